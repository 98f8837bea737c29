import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { trace, type TracerProvider } from '@opentelemetry/api'
import { repoPath } from '../deploy/repo.js'
import { tempDir } from '../../harness/temp.js'
import { otelRegistered } from '../../../src/observability/otel-global.js'

/** The CommonJS packages a run of `adit <args>` loaded (the preload lists require.cache at exit). */
function packagesLoaded(args: string[]): Set<string> {
  const dir = tempDir()
  try {
    const preload = dir.file('list.cjs')
    writeFileSync(preload, "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'))\n")
    const run = spawnSync(process.execPath, ['--require', preload, repoPath('dist', 'src', 'bin.js'), ...args], { encoding: 'utf8', timeout: 60_000 })
    const line = run.stderr.split('\n').find((l) => l.startsWith('LOADED '))
    assert.ok(line !== undefined, `no module list from adit ${args.join(' ')}: ${run.stderr}`)
    const files = JSON.parse(line.slice('LOADED '.length)) as string[]
    return new Set(files.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1]).filter((p): p is string => p !== undefined))
  } finally {
    dir.remove()
  }
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
