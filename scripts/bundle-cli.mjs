// The npm bin, dist/cli/bin.js: the compiled CLI (dist/src/bin.js) with adit's own modules bundled
// into a few files, one per command (esbuild code splitting keeps every command loaded when it runs),
// and the packages left as imports from node_modules, but for those the agent loads (BUNDLED). Node's ESM
// loader spent ~1 ms per module on resolving, reading and linking ~100 of adit's files before
// `adit http` printed its `forwarding` line (Node 24 CPU profile); node dist/bench/startup.js
// measures it.
//
//   npm run build    # tsc, then this
//
// The input is the compiled JavaScript in dist/ (what the tests ran against), as for the agent
// bundle (scripts/bundle-agent.mjs). The library (dist/src/index.js) is not bundled.
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'dist/cli')
rmSync(outdir, { recursive: true, force: true })

// Packages bundled into the chunks too: each CommonJS file of theirs cost Node's CommonJS loader a
// resolve, a read and a compile, and the ESM→CommonJS boundary an export scan (Node 24 CPU profile of
// `adit http`: ws ~21 ms with https/tls/zlib, pino ~13 ms, undici's request API ~10 ms; commander 7
// files). All of undici is bundled, so the pool it require()s once online (http/undici-parts.ts)
// shares its modules (symbols, errors) with the rest. The others stay in node_modules: the server's
// packages (not loaded by the agent), ws's bufferutil/utf-8-validate (native, optional) and pino's
// worker transports (thread-stream: adit starts none).
const BUNDLED = new Set([
  'ws',
  'pino',
  'pino-std-serializers',
  'safe-stable-stringify',
  'quick-format-unescaped',
  'sonic-boom',
  'atomic-sleep',
  'on-exit-leak-free',
  '@pinojs/redact',
  'process-warning',
  'commander',
  'undici',
])

/** Every bare import is external (left to node_modules) unless its package is in `bundled`. */
function packagesExternalExcept(bundled) {
  return {
    name: 'packages-external-except',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:')) return { path: args.path, external: true }
        const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0]
        return bundled.has(name) ? undefined : { path: args.path, external: true }
      })
    },
  }
}

const result = await build({
  absWorkingDir: root,
  entryPoints: { bin: join(root, 'dist/src/bin.js') },
  outdir,
  bundle: true,
  splitting: true,
  plugins: [packagesExternalExcept(BUNDLED)],
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // A plain require() for the modules that load a package only when it is needed (yaml on the first
  // config file read): esbuild's own shim would refuse it in an ESM file.
  banner: { js: "import { createRequire as __aditCreateRequire } from 'node:module';\nconst require = __aditCreateRequire(import.meta.url);" },
  sourcemap: false,
  logLevel: 'warning',
})
if (result.errors.length > 0) process.exit(1)
