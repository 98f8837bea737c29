import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { trace, type TracerProvider } from '@opentelemetry/api'
import { repoPath } from '../deploy/repo.js'
import { tempDir } from '../../harness/temp.js'
import { otelRegistered } from '../../../src/observability/otel-global.js'

/** What a run of `adit <args>` loaded: CommonJS files (the preload lists require.cache at exit) and Node's own internal modules. */
function loaded(args: string[], bin = repoPath('dist', 'src', 'bin.js')): { files: string[]; internals: string[] } {
  const dir = tempDir()
  try {
    const preload = dir.file('list.cjs')
    writeFileSync(
      preload,
      "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify({ files: Object.keys(require.cache), internals: process.moduleLoadList }) + '\\n'))\n",
    )
    const run = spawnSync(process.execPath, ['--require', preload, bin, ...args], { encoding: 'utf8', timeout: 60_000 })
    const line = run.stderr.split('\n').find((l) => l.startsWith('LOADED '))
    assert.ok(line !== undefined, `no module list from adit ${args.join(' ')}: ${run.stderr}`)
    return JSON.parse(line.slice('LOADED '.length)) as { files: string[]; internals: string[] }
  } finally {
    dir.remove()
  }
}

/** The CommonJS packages a run of `adit <args>` loaded. */
function packagesLoaded(args: string[], bin?: string): Set<string> {
  const { files } = loaded(args, bin)
  return new Set(files.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1]).filter((p): p is string => p !== undefined))
}

test('adit --version and the agent load none of the server-only packages', () => {
  const serverOnly = ['redis', '@redis/client', 'prom-client', '@opentelemetry/api']
  const version = packagesLoaded(['--version'])
  for (const name of [...serverOnly, 'undici', 'ws', 'pino']) assert.ok(!version.has(name), `--version loaded ${name}`)
  const agent = packagesLoaded(['agent', '--local', '3000', '--state-file', 'none', '--print-config'])
  for (const name of serverOnly) assert.ok(!agent.has(name), `the agent loaded ${name}`)
  // The check can fail: the server does load them.
  const server = packagesLoaded(['server', '--print-config'])
  assert.ok(server.has('prom-client') || server.has('redis') || server.has('@redis/client'), [...server].join(', '))
})

test("adit http loads neither yaml, nor undici's index (fetch, caches, mocks), nor Node's internal undici", () => {
  // Each was ~25-45 ms of the agent's start on Node 24 (CPU profile); none is used without a config file or a fetch.
  const { files, internals } = loaded(['http', '3000', '--state-file', 'none', '--print-config'])
  const rel = files.map((f) => f.replace(/^.*node_modules\//, ''))
  assert.ok(!rel.some((f) => f.startsWith('yaml/')), 'yaml loaded without a config file')
  assert.ok(!rel.includes('undici/index.js'), "undici's index loaded")
  assert.ok(!rel.some((f) => f.startsWith('undici/lib/web/')), `undici's web APIs loaded: ${rel.filter((f) => f.startsWith('undici/lib/web/')).join(', ')}`)
  // The pool (undici's client, its HTTP/2 half and node:http2) is made once the tunnel is online, not at start.
  assert.ok(!rel.includes('undici/lib/dispatcher/pool.js'), "undici's pool loaded at start")
  assert.ok(!internals.includes('NativeModule http2'), 'node:http2 loaded at start')
  // Node 24: an ESM import of node:http reads its lazy WebSocket export, which loads the undici bundled in Node.
  assert.ok(!internals.some((m) => m.includes('deps/undici')), 'node:internal/deps/undici loaded')
  // The check can fail: a config file does load yaml.
  const dir = tempDir()
  try {
    const config = dir.file('adit.yaml')
    writeFileSync(config, 'agent:\n  name: lazy\n')
    const withFile = loaded(['http', '3000', '--state-file', 'none', '--config', config, '--print-config'])
    assert.ok(
      withFile.files.some((f) => f.includes('node_modules/yaml/')),
      'a YAML config file was read without yaml',
    )
  } finally {
    dir.remove()
  }
})

/** The ES modules `node <bin> <args>` loaded (a loader hook appends each URL to a file), and its exit code. */
function esModulesLoaded(bin: string, args: string[]): { urls: string[]; status: number | null } {
  const dir = tempDir()
  try {
    const list = dir.file('urls.txt')
    writeFileSync(list, '')
    const hooks = dir.file('hooks.mjs')
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs'\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(list)}, url + '\\n')\n  return next(url, context)\n}\n`,
    )
    const preload = dir.file('register.mjs')
    writeFileSync(preload, `import { register } from 'node:module'\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)})\n`)
    const run = spawnSync(process.execPath, ['--import', preload, bin, ...args], { encoding: 'utf8', timeout: 60_000 })
    return {
      urls: readFileSync(list, 'utf8')
        .split('\n')
        .filter((u) => u !== ''),
      status: run.status,
    }
  } finally {
    dir.remove()
  }
}

test("the npm bin runs adit's own code from a few bundled files (chunks shared between commands), not ~100 modules", () => {
  // Node's ESM loader spent ~1 ms per module resolving, reading and linking adit's ~100 files before
  // `adit http` printed its forwarding line (Node 24 CPU profile); scripts/bundle-cli.mjs bundles them per command.
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { bin: { adit: string } }
  const { urls, status } = esModulesLoaded(repoPath(pkg.bin.adit), ['http', '3000', '--state-file', 'none', '--print-config'])
  assert.equal(status, 0)
  const own = urls.filter((u) => u.startsWith(new URL(`file://${repoPath('dist')}/`).href))
  assert.ok(own.length > 0 && own.length <= 25, `${own.length} of adit's files: ${own.join(' ')}`)
  // The check can fail: the unbundled build loads each module on its own.
  const unbundled = esModulesLoaded(repoPath('dist', 'src', 'bin.js'), ['http', '3000', '--state-file', 'none', '--print-config'])
  assert.ok(unbundled.urls.filter((u) => u.includes('/dist/src/')).length > 50)
})

test('the npm bin carries ws, pino, undici and commander in its chunks: adit http loads none of them from node_modules', () => {
  // Each of their CommonJS files cost a resolve, a read and a compile, and the ESM→CommonJS boundary an
  // export scan: ws (with https, tls, zlib) ~21 ms, pino ~13 ms, undici's request API ~10 ms of adit http's start on Node 24.
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { bin: { adit: string } }
  const args = ['http', '3000', '--state-file', 'none', '--print-config']
  const bundled = packagesLoaded(args, repoPath(pkg.bin.adit))
  for (const name of ['ws', 'pino', 'sonic-boom', 'undici', 'commander'])
    assert.ok(!bundled.has(name), `the npm bin loaded ${name} from node_modules: ${[...bundled].join(', ')}`)
  // The check can fail: the unbundled build loads them from node_modules.
  const unbundled = packagesLoaded(args)
  for (const name of ['ws', 'pino', 'undici', 'commander']) assert.ok(unbundled.has(name), [...unbundled].join(', '))
})

test('adit --version answers before the CLI is loaded, with the version commander prints and package.json holds', () => {
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string; bin: { adit: string } }
  for (const bin of [repoPath(pkg.bin.adit), repoPath('dist', 'src', 'bin.js')]) {
    for (const flag of ['--version', '-V']) {
      const { urls, status } = esModulesLoaded(bin, [flag])
      assert.equal(status, 0)
      assert.ok(!urls.some((u) => /\/(main|cli)[.-]/.test(u) || u.includes('commander')), `${flag} loaded the CLI: ${urls.join(' ')}`)
      const run = spawnSync(process.execPath, [bin, flag], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(run.stdout, `${pkg.version}\n`)
    }
  }
  // The check can fail: with another argument the CLI (commander) is loaded and prints the same.
  const both = spawnSync(process.execPath, [repoPath('dist', 'src', 'bin.js'), '--version', '--help'], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(both.stdout, `${pkg.version}\n`)
  assert.ok(esModulesLoaded(repoPath('dist', 'src', 'bin.js'), ['help']).urls.some((u) => u.includes('commander')))
})

test('otelRegistered: false until an OpenTelemetry provider is registered', () => {
  assert.equal(otelRegistered(), false)
  const provider: TracerProvider = { getTracer: () => trace.getTracer('noop') }
  assert.equal(trace.setGlobalTracerProvider(provider), true)
  try {
    assert.equal(otelRegistered(), true)
  } finally {
    trace.disable()
  }
  assert.equal(otelRegistered(), false)
})
