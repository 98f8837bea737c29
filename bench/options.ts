/**
 * What one benchmark run does: durations, sizes, counts. Two presets — the
 * default run (about 5 minutes) and `--quick` (CI smoke, under 30 seconds) —
 * and one validating function that names the bad option.
 */

/** Every case the harness knows, in the order they run. */
export const CASE_NAMES = ['idle', 'get1k', 'transfer', 'wan', 'tcp', 'mixed', 'features', 'routes', 'cross-instance'] as const
export type CaseName = (typeof CASE_NAMES)[number]

export interface BenchOptions {
  quick: boolean
  /** Cases to run; the default is all of them (cross-instance needs a Redis at REDIS_URL, else it reports why it skipped). */
  only: CaseName[]
  /** Seconds per measured 1 KiB GET run. */
  getDurationSec: number
  /** Seconds of the unmeasured warm-up run on each path before the first measured run. */
  warmupSec: number
  /** Rounds of (direct, limit, floor, adit) per connection count above 1; the reported figure is the median. */
  rounds: number
  /** Rounds at 1 connection, where runs vary most: the median and the spread (median/best, worst–best) are reported. */
  c1Rounds: number
  connections: number[]
  /** Bytes of the download and of the upload case. */
  transferBytes: number
  /** Bytes of the big download that runs under the small GETs; 0 skips the mixed case. */
  bigDownloadBytes: number
  /** Connections of the small-GET load while the big download runs. */
  mixedConnections: number
  idleTunnels: number
  /** Give up on one transfer after this long and report it incomplete. */
  transferTimeoutSec: number
  /** `--connections` for the agent; undefined leaves the agent's default. */
  agentConnections: number | undefined
  /** Measure the direct path only (the tunnel is not built, or not wanted). */
  noTunnel: boolean
  /** Where the results JSON goes; undefined means bench/results/latest.json. */
  out: string | undefined
  /** The adit CLI entry to measure; undefined means this checkout's dist/src/bin.js. */
  bin: string | undefined
  /** Write V8 CPU profiles of the server and agent here (node --cpu-prof); undefined: no profiling. */
  cpuProfDir: string | undefined
}

const MiB = 1024 * 1024

export const defaults: BenchOptions = {
  quick: false,
  only: [...CASE_NAMES],
  getDurationSec: 4,
  warmupSec: 1,
  rounds: 2,
  c1Rounds: 5,
  connections: [1, 100],
  transferBytes: 100 * MiB,
  bigDownloadBytes: 1024 * MiB,
  mixedConnections: 10,
  idleTunnels: 1000,
  transferTimeoutSec: 60,
  agentConnections: undefined,
  noTunnel: false,
  out: undefined,
  bin: undefined,
  cpuProfDir: undefined,
}

export const quickDefaults: BenchOptions = {
  ...defaults,
  quick: true,
  getDurationSec: 1,
  warmupSec: 0.5,
  rounds: 1,
  c1Rounds: 1,
  transferBytes: 10 * MiB,
  bigDownloadBytes: 0,
  idleTunnels: 100,
  transferTimeoutSec: 20,
}

export class BenchOptionError extends Error {
  readonly code = 'ADIT_ERR_BENCH_OPTION'
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`bench option --${option}: ${message}`)
    this.name = 'BenchOptionError'
  }
}

const USAGE = `usage: node dist/bench/run.js [--quick] [--only=${CASE_NAMES.join(',')}]
  [--duration=SEC] [--rounds=N] [--c1-rounds=N] [--connections=1,100] [--transfer-mib=N]
  [--big-mib=N] [--idle-tunnels=N] [--agent-connections=N] [--no-tunnel] [--out=FILE]
  [--bin=FILE (another build's dist/src/bin.js)] [--cpu-prof=DIR (profile server and agent)]`

export function usage(): string {
  return USAGE
}

function positiveNumber(option: string, raw: string, integer: boolean): number {
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new BenchOptionError(option, `expected a positive ${integer ? 'integer' : 'number'}, got "${raw}"`)
  }
  return value
}

/** Parses argv (without node and the script) into options; throws BenchOptionError naming the bad one. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick')
  const options: BenchOptions = { ...(quick ? quickDefaults : defaults) }
  for (const arg of argv) {
    if (arg === '--quick') continue
    if (arg === '--no-tunnel') {
      options.noTunnel = true
      continue
    }
    const match = /^--([a-z0-9-]+)=(.*)$/.exec(arg)
    if (!match) throw new BenchOptionError(arg.replace(/^-+/, ''), `unknown argument\n${USAGE}`)
    const [, name, raw] = match as unknown as [string, string, string]
    switch (name) {
      case 'only': {
        const names = raw.split(',').filter((n) => n.length > 0)
        for (const n of names) {
          if (!(CASE_NAMES as readonly string[]).includes(n)) {
            throw new BenchOptionError('only', `unknown case "${n}"; known: ${CASE_NAMES.join(', ')}`)
          }
        }
        if (names.length === 0) throw new BenchOptionError('only', 'names no case')
        options.only = names as CaseName[]
        break
      }
      case 'duration':
        options.getDurationSec = positiveNumber(name, raw, false)
        break
      case 'rounds':
        options.rounds = positiveNumber(name, raw, true)
        break
      case 'c1-rounds':
        options.c1Rounds = positiveNumber(name, raw, true)
        break
      case 'connections':
        options.connections = raw.split(',').map((c) => positiveNumber(name, c, true))
        break
      case 'transfer-mib':
        options.transferBytes = positiveNumber(name, raw, true) * MiB
        break
      case 'big-mib':
        options.bigDownloadBytes = positiveNumber(name, raw, true) * MiB
        break
      case 'idle-tunnels':
        options.idleTunnels = positiveNumber(name, raw, true)
        break
      case 'agent-connections':
        options.agentConnections = positiveNumber(name, raw, true)
        break
      case 'out':
        if (raw.length === 0) throw new BenchOptionError('out', 'expected a file path')
        options.out = raw
        break
      case 'cpu-prof':
        if (raw.length === 0) throw new BenchOptionError('cpu-prof', 'expected a directory')
        options.cpuProfDir = raw
        break
      case 'bin':
        if (raw.length === 0) throw new BenchOptionError('bin', 'expected a file path')
        options.bin = raw
        break
      default:
        throw new BenchOptionError(name, `unknown option\n${USAGE}`)
    }
  }
  validateBenchOptions(options)
  return options
}

/** Bounds that keep every run finite and every loop small enough to stop by itself. */
export function validateBenchOptions(options: BenchOptions): void {
  if (options.getDurationSec > 60) throw new BenchOptionError('duration', 'at most 60 seconds per run')
  if (options.rounds > 10) throw new BenchOptionError('rounds', 'at most 10')
  if (options.c1Rounds > 10) throw new BenchOptionError('c1-rounds', 'at most 10')
  if (options.connections.length === 0 || options.connections.some((c) => c > 1000)) {
    throw new BenchOptionError('connections', 'one to a few counts, each at most 1000')
  }
  if (options.transferBytes > 4096 * MiB) throw new BenchOptionError('transfer-mib', 'at most 4096')
  if (options.bigDownloadBytes > 4096 * MiB) throw new BenchOptionError('big-mib', 'at most 4096')
  if (options.idleTunnels > 10_000) throw new BenchOptionError('idle-tunnels', 'at most 10000')
  if (options.agentConnections !== undefined && options.agentConnections > 64) {
    throw new BenchOptionError('agent-connections', 'at most 64')
  }
}
