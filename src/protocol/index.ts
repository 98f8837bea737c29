/** The wire protocol: codec, streams, sessions. Imports nothing from the rest of adit. */
export * from './frame.js'
export * from './errors.js'
export * from './encode.js'
export * from './decode.js'
export * from './stream.js'
export * from './session.js'
export * from './json-v1.js'
export * from './negotiate.js'
