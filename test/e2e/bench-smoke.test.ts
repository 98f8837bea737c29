/**
 * Smoke test of the benchmark harness: a tiny run must finish, end its
 * children, and write a results JSON whose figures are real positive numbers.
 * Performance itself is never asserted here — only that the harness measures.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'

const runScript = fileURLToPath(new URL('../../bench/run.js', import.meta.url))
const aditBin = fileURLToPath(new URL('../../src/bin.js', import.meta.url))
const RUN_TIMEOUT_MS = 60_000

interface Figure {
  id: string
  direct: number | null
  limit: number | null
  floor: number | null
  tunnel: number | null
  ratio: number | null
  vsLimit: number | null
}

interface Report {
  schema: number
  date: string
  machine: { cpus: number; node: string }
  tunnel: { measured: boolean }
  figures: Figure[]
}

/** Runs the harness with `args` plus `--out=<tmp>`; returns its exit code, output and report. */
async function runBench(t: TestContext, args: string[]): Promise<{ code: number | null; output: string; report: Report }> {
  const dir = await mkdtemp(join(tmpdir(), 'adit-bench-smoke-'))
  const out = join(dir, 'results.json')
  let child: ChildProcess | undefined
  t.after(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  child = spawn(process.execPath, [runScript, ...args, `--out=${out}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text))
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text))
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench run took over ${RUN_TIMEOUT_MS} ms:\n${output}`)), RUN_TIMEOUT_MS)
    child!.once('exit', (exitCode) => {
      clearTimeout(timer)
      resolve(exitCode)
    })
  })
  assert.equal(code, 0, output)
  const report = JSON.parse(await readFile(out, 'utf8')) as Report
  return { code, output, report }
}

function byId(report: Report, id: string): Figure {
  const found = report.figures.find((f) => f.id === id)
  assert.ok(found, `figure ${id} missing; have ${report.figures.map((f) => f.id).join(', ')}`)
  return found
}

function assertPositive(value: number | null, what: string): void {
  assert.equal(typeof value, 'number', `${what} is not a number`)
  assert.ok(Number.isFinite(value) && (value as number) > 0, `${what} is ${value}`)
}

test('bench --quick measures the direct path and writes positive figures', async (t) => {
  const { output, report } = await runBench(t, ['--quick', '--only=get1k', '--connections=1', '--no-tunnel'])
  assert.equal(report.schema, 1)
  assert.ok(report.machine.cpus > 0)
  assert.equal(report.machine.node, process.version)
  assert.ok(!Number.isNaN(Date.parse(report.date)))
  assert.equal(report.tunnel.measured, false)
  assertPositive(byId(report, 'get1k.c1.rps').direct, 'direct req/s')
  assertPositive(byId(report, 'get1k.c1.p50').direct, 'direct p50')
  assertPositive(byId(report, 'get1k.c1.p99').direct, 'direct p99')
  assert.match(output, /1 KiB GET, 1 conn/)
})

test('bench --quick measures the tunnel beside the two reference relays and writes positive figures and ratios', async (t) => {
  // The CLI is part of the build now: a missing one is a failure, not a skip.
  assert.ok(existsSync(aditBin), `adit CLI not built: ${aditBin}`)
  const { report } = await runBench(t, ['--quick', '--only=get1k,transfer', '--connections=1'])
  assert.equal(report.tunnel.measured, true)
  const get = byId(report, 'get1k.c1.rps')
  assertPositive(get.direct, 'direct req/s')
  assertPositive(get.tunnel, 'tunnel req/s')
  assertPositive(get.ratio, 'req/s ratio')
  assertPositive(get.limit, 'limit (two TCP hops) req/s')
  assertPositive(get.floor, 'floor (minimal WebSocket relay) req/s')
  assertPositive(get.vsLimit, 'adit/limit ratio')
  const cpu = byId(report, 'get1k.c1.cpu')
  for (const side of ['limit', 'floor', 'tunnel'] as const) assertPositive(cpu[side], `${side} CPU ms per 1,000 requests`)
  assertPositive(byId(report, 'get1k.c1.p99').tunnel, 'tunnel p99')
  assertPositive(byId(report, 'get1k.cpu-per-1000').tunnel, 'CPU ms per 1,000 requests')
  for (const id of ['transfer.download', 'transfer.upload']) {
    const transfer = byId(report, id)
    assertPositive(transfer.direct, `${id} direct MiB/s`)
    assertPositive(transfer.tunnel, `${id} tunnel MiB/s`)
    assertPositive(transfer.limit, `${id} limit MiB/s`)
    assertPositive(transfer.floor, `${id} floor MiB/s`)
  }
})

test('bench --quick --only=routes: routing work in-process and a 50-route table end to end, each beside no routes', async (t) => {
  assert.ok(existsSync(aditBin), `adit CLI not built: ${aditBin}`)
  const { report } = await runBench(t, ['--quick', '--only=routes'])
  for (const id of ['routes.in-process.none', 'routes.in-process.table50', 'routes.in-process.table50-rules']) {
    assertPositive(byId(report, id).tunnel, `${id} ns per request`)
    assertPositive(byId(report, id).ratio, `${id} ratio to no routes`)
  }
  for (const variant of ['one-origin', 'table50', 'table50-rules']) {
    assertPositive(byId(report, `routes.${variant}.c1`).tunnel, `${variant} req/s at 1 conn`)
    assertPositive(byId(report, `routes.${variant}.cpu.c100`).tunnel, `${variant} CPU ms per 1,000 requests at 100 conns`)
  }
})
