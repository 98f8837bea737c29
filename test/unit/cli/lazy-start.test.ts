import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { trace, type TracerProvider } from '@opentelemetry/api'
import { repoPath } from '../deploy/repo.js'
import { tempDir } from '../../harness/temp.js'
import { otelRegistered } from '../../../src/observability/otel-global.js'

/** What a run of `adit <args>` loaded: CommonJS files (the preload lists require.cache at exit) and Node's own internal modules. */
function loaded(args: string[]): { files: string[]; internals: string[] } {
  const dir = tempDir()
  try {
    const preload = dir.file('list.cjs')
    writeFileSync(
      preload,
      "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify({ files: Object.keys(require.cache), internals: process.moduleLoadList }) + '\\n'))\n",
    )
    const run = spawnSync(process.execPath, ['--require', preload, repoPath('dist', 'src', 'bin.js'), ...args], { encoding: 'utf8', timeout: 60_000 })
    const line = run.stderr.split('\n').find((l) => l.startsWith('LOADED '))
    assert.ok(line !== undefined, `no module list from adit ${args.join(' ')}: ${run.stderr}`)
    return JSON.parse(line.slice('LOADED '.length)) as { files: string[]; internals: string[] }
  } finally {
    dir.remove()
  }
}

/** The CommonJS packages a run of `adit <args>` loaded. */
function packagesLoaded(args: string[]): Set<string> {
  const { files } = loaded(args)
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
