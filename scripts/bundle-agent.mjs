// Bundles the agent into one file, dist/adit-agent.mjs, that runs with a plain
// `node adit-agent.mjs agent ...` anywhere: no node_modules, no npm install.
// It is what the systemd unit and a copy-it-to-the-box install use.
//
//   npm run build && npm run bundle
//   node scripts/bundle-agent.mjs [--entry dist/src/bin.js] [--outfile dist/adit-agent.mjs]
//
// The input is the compiled JavaScript in dist/ (what the tests ran against),
// not the TypeScript sources, so the bundle is the tested code.
import { build } from 'esbuild'
import { existsSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

// An agent-only entry keeps the server's code (and its dependencies) out of
// the bundle; until one exists the full CLI is bundled, which still runs
// `adit agent`.
const entryCandidates = ['dist/src/agent-main.js', 'dist/src/agent/main.js', 'dist/src/bin.js']

// ws loads these native accelerators with require() inside try/catch and falls
// back to JavaScript when they are missing; bundling them is impossible (they
// are .node binaries), so they stay external and optional.
const optionalNative = ['bufferutil', 'utf-8-validate']

// ESM output has no `require`; CommonJS dependencies bundled into it call
// require() for Node built-ins, which esbuild routes through a shim that uses
// a `require` in scope when there is one. The banner provides it.
const banner = ["import { createRequire as __aditCreateRequire } from 'node:module';", 'const require = __aditCreateRequire(import.meta.url);'].join('\n')

function fail(message) {
  console.error(`bundle-agent: ${message}`)
  process.exit(1)
}

const { values } = parseArgs({
  options: {
    entry: { type: 'string' },
    outfile: { type: 'string', default: 'dist/adit-agent.mjs' },
  },
})

const entry = values.entry ?? entryCandidates.find((candidate) => existsSync(join(root, candidate)))
if (entry === undefined) {
  fail(`no agent entry found (looked for ${entryCandidates.join(', ')}): run \`npm run build\` first`)
}
if (!existsSync(resolve(root, entry))) fail(`entry ${entry} does not exist: run \`npm run build\` first`)

const outfile = resolve(root, values.outfile)
const result = await build({
  absWorkingDir: root,
  entryPoints: [resolve(root, entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  external: optionalNative,
  banner: { js: banner },
  // Licences of bundled dependencies go to the end of the file.
  legalComments: 'eof',
  sourcemap: false,
  logLevel: 'warning',
})
if (result.errors.length > 0) process.exit(1)

const size = statSync(outfile).size
console.log(`bundle-agent: ${relative(root, entry)} -> ${relative(root, outfile)} (${(size / 1024).toFixed(0)} KiB)`)
