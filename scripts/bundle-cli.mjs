// The npm bin, dist/cli/bin.js: the compiled CLI (dist/src/bin.js) with adit's own modules bundled
// into a few files, one per command (esbuild code splitting keeps every command loaded when it runs),
// and the packages left as imports from node_modules. Node's ESM loader spent ~1 ms per module on
// resolving, reading and linking ~100 of adit's files before `adit http` printed its `forwarding`
// line (Node 24 CPU profile); node dist/bench/startup.js measures it.
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

const result = await build({
  absWorkingDir: root,
  entryPoints: { bin: join(root, 'dist/src/bin.js') },
  outdir,
  bundle: true,
  splitting: true,
  packages: 'external',
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
