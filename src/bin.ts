#!/usr/bin/env node
import module from 'node:module'

// V8's on-disk compile cache (Node ≥ 22.1; a no-op where absent): every
// later start skips compiling the CLI and its packages — adit loads ~300
// modules, undici alone takes a quarter of a second to compile. Turned on
// before anything else is imported, so main.js and all it pulls in are cached.
module.enableCompileCache?.()
// Not a top-level await: the single executable is built as CommonJS.
void import('./main.js')
