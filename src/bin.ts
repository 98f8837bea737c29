#!/usr/bin/env node
import module from 'node:module'

// V8's on-disk compile cache (Node ≥ 22.1; a no-op where absent): every
// later start skips compiling the CLI and its packages — adit loads ~300
// modules, undici alone takes a quarter of a second to compile. Turned on
// before anything else is imported, so main.js and all it pulls in are cached.
module.enableCompileCache?.()
import { version } from './version.js'

// `adit --version` alone answers before the CLI (commander, the settings tables) is loaded: what
// commander prints for it, in ~the time of `node -e 0`.
const args = process.argv.slice(2)
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) process.stdout.write(`${version}\n`)
// Not a top-level await: the single executable is built as CommonJS.
else void import('./main.js')
