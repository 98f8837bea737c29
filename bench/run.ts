/**
 * adit's benchmark: direct / limit / floor / adit, figures as ratios, targets judged.
 *
 *   npm run bench                 # full run, about 5 minutes
 *   node dist/bench/run.js --quick --only=get1k
 *
 * Starts a local HTTP service, the adit server and agent (through the CLI),
 * and a load generator, each in its own process; runs the chosen cases; prints
 * a table on stdout and writes bench/results/latest.json. Every child is ended
 * by PID when the run ends, fails, or is interrupted. This is the only file
 * that calls process.exit.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCrossInstance } from './cases/cross-instance.js'
import { runFeatures } from './cases/features.js'
import { runGet1k } from './cases/get1k.js'
import { runIdle } from './cases/idle.js'
import { runMixed } from './cases/mixed.js'
import { runRoutes } from './cases/routes.js'
import { runTransfer } from './cases/transfer.js'
import { runTcp } from './cases/tcp.js'
import { runWan } from './cases/wan.js'
import { ChildSet } from './children.js'
import type { BenchContext, CaseResult, Relay, TunnelUnderTest } from './context.js'
import type { Figure } from './figures.js'
import { LoadGenerator } from './load-client.js'
import { BenchOptionError, parseBenchOptions, type BenchOptions, type CaseName } from './options.js'
import {
  defaultAditBin,
  type AditLaunch,
  startAditAgent,
  startAditServer,
  startFloorRelay,
  startLimitRelay,
  startLocalService,
  tunnelUnavailableReason,
} from './processes.js'
import { formatTable, loadAverage1m, machineInfo, type BenchReport } from './report.js'

const defaultOut = fileURLToPath(new URL('../../bench/results/latest.json', import.meta.url))

const cases: Record<CaseName, (ctx: BenchContext) => Promise<CaseResult>> = {
  idle: runIdle,
  get1k: runGet1k,
  transfer: runTransfer,
  wan: runWan,
  tcp: runTcp,
  mixed: runMixed,
  features: runFeatures,
  routes: runRoutes,
  'cross-instance': runCrossInstance,
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`)
}

async function startTunnel(children: ChildSet, launch: AditLaunch, options: BenchOptions, localUrl: string): Promise<TunnelUnderTest> {
  const server = await startAditServer(children, launch)
  log(`adit server on ${server.url} (pid ${server.child.pid})`)
  const agent = await startAditAgent(children, launch, server.url, localUrl, options.agentConnections)
  log(`adit agent ready, public URL ${agent.publicUrl} (pid ${agent.child.pid})`)
  return { server, agent, base: agent.publicUrl }
}

async function bench(options: BenchOptions, children: ChildSet): Promise<BenchReport> {
  const started = performance.now()
  const loadAtStart = loadAverage1m()
  const local = await startLocalService(children)
  log(`local service on ${local.url} (pid ${local.child.pid})`)
  const bin = resolve(options.bin ?? defaultAditBin)
  const launch: AditLaunch = { bin, cpuProfDir: options.cpuProfDir === undefined ? undefined : resolve(options.cpuProfDir) }
  const tunnelProblem = options.noTunnel ? 'tunnel not measured (--no-tunnel)' : tunnelUnavailableReason(bin)
  let tunnel: TunnelUnderTest | undefined
  if (tunnelProblem === undefined) {
    tunnel = await startTunnel(children, launch, options, local.url)
  } else {
    log(`${tunnelProblem}; measuring the direct path only`)
  }
  // The two references run beside adit in every case: the limit (two raw TCP hops) and the floor (a minimal WebSocket relay).
  // --no-tunnel measures the direct path alone.
  const relays: Relay[] = []
  if (!options.noTunnel) {
    const limit = await startLimitRelay(children, local.url)
    const floor = await startFloorRelay(children, local.url)
    log(`limit relay on ${limit.base}, floor relay on ${floor.base}`)
    relays.push({ name: 'limit', ...limit }, { name: 'floor', ...floor })
  }
  if (tunnel) relays.push({ name: 'adit', base: tunnel.base, pids: [tunnel.server.child.pid, tunnel.agent.child.pid] })
  const load = await LoadGenerator.start(children)
  const ctx: BenchContext = {
    options,
    children,
    load,
    local,
    directBase: `${local.url}/`,
    launch,
    tunnel,
    tunnelProblem,
    relays,
    log,
  }
  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  const failures: string[] = []
  try {
    for (const name of options.only) {
      // A case that fails is reported and the run goes on: the other cases' figures are kept.
      try {
        const result = await cases[name](ctx)
        figures.push(...result.figures)
        details[name] = result.details
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        log(`${name} failed: ${message}`)
        details[name] = { failed: message }
        failures.push(name)
      }
    }
  } finally {
    await tunnel?.agent.cleanup().catch(() => undefined)
  }
  return {
    schema: 1,
    date: new Date().toISOString(),
    durationSec: Math.round((performance.now() - started) / 100) / 10,
    machine: machineInfo(),
    loadAverage: { start: loadAtStart, end: loadAverage1m() },
    options,
    tunnel: { measured: tunnel !== undefined, bin, problem: tunnelProblem ?? null },
    figures,
    details,
    failures,
  }
}

async function main(): Promise<number> {
  let options: BenchOptions
  try {
    options = parseBenchOptions(process.argv.slice(2))
  } catch (error) {
    if (error instanceof BenchOptionError) {
      process.stderr.write(`${error.message}\n`)
      return 2
    }
    throw error
  }
  const children = new ChildSet()
  const interrupt = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping every child`)
    void children.stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  try {
    const report = await bench(options, children)
    // A profiled process writes its profile on exit: give it time to drain and write.
    await children.stopAll(options.cpuProfDir === undefined ? 2000 : 15_000)
    const out = resolve(options.out ?? defaultOut)
    await mkdir(dirname(out), { recursive: true })
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
    process.stdout.write(`${formatTable(report.figures)}\n\n`)
    if (report.failures.length > 0) process.stdout.write(`failed cases (see details in the JSON): ${report.failures.join(', ')}\n`)
    process.stdout.write(
      `${report.machine.cpus} x ${report.machine.cpuModel}, node ${report.machine.node}, load ${report.loadAverage.start} -> ${report.loadAverage.end}, ${report.durationSec} s; results in ${out}\n`,
    )
    return report.failures.length === 0 ? 0 : 1
  } catch (error) {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    await children.stopAll()
    return 1
  }
}

// Exit explicitly: a stray handle in a case must not keep a finished run alive.
process.exit(await main())
