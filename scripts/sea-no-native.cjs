// Stands in for ws's optional native accelerators (bufferutil, utf-8-validate) in the single
// executable: there require() loads only built-ins and warns on every other name, so the bundle
// must not ask for one. ws catches this error and uses its JavaScript fallback.
throw new Error('native ws accelerators are not available inside a single executable application')
