/**
 * 1 KiB GETs at each connection count on every path — direct, the limit (two
 * raw TCP hops), the floor (a minimal WebSocket relay) and adit — interleaved
 * round by round (direct, limit, floor, adit, direct …) so drift in the
 * machine hits every path alike. Also the CPU each relay's two processes
 * spend per 1,000 requests, from /proc utime+stime around each of its runs,
 * and the spread of the repeats (c=1 varies most).
 */
import type { BenchContext, CaseResult, Relay } from '../context.js'
import { figure, median, type Figure } from '../figures.js'
import type { LoadResult } from '../load-protocol.js'
import { cpuMs } from '../proc-stats.js'

type PathName = 'direct' | Relay['name']

interface Run {
  load: LoadResult
  /** CPU of the relay's processes during the run (0 on the direct path). */
  cpuMs: number
}

function problems(runs: LoadResult[]): string | undefined {
  const non2xx = runs.reduce((n, r) => n + r.non2xx, 0)
  const errors = runs.reduce((n, r) => n + r.errors + r.timeouts, 0)
  if (non2xx === 0 && errors === 0) return undefined
  return `${non2xx} non-2xx, ${errors} errors/timeouts`
}

const sumCpu = (pids: readonly number[]): number => pids.reduce((ms, pid) => ms + cpuMs(pid), 0)

/** Runs `connections` for `durationSec` against one path and measures its relay's CPU meanwhile. */
export async function measuredRun(ctx: BenchContext, url: string, pids: readonly number[], connections: number, durationSec: number): Promise<Run> {
  const before = sumCpu(pids)
  const load = await ctx.load.run(url, connections, durationSec)
  return { load, cpuMs: sumCpu(pids) - before }
}

export function cpuPer1000(runs: readonly Run[]): number | null {
  const requests = runs.reduce((n, r) => n + r.load.requests, 0)
  return requests > 0 ? (runs.reduce((ms, r) => ms + r.cpuMs, 0) / requests) * 1000 : null
}

export async function runGet1k(ctx: BenchContext): Promise<CaseResult> {
  const { options } = ctx
  const paths: Array<{ name: PathName; url: string; pids: number[] }> = [
    { name: 'direct', url: new URL('1k', ctx.directBase).href, pids: [] },
    ...ctx.relays.map((r) => ({ name: r.name, url: new URL('1k', r.base).href, pids: r.pids })),
  ]

  ctx.log(`get1k: warm-up ${options.warmupSec}s per path`)
  for (const path of paths) await ctx.load.run(path.url, 10, options.warmupSec)

  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  const allAdit: Run[] = []
  const cpuByConnections: Record<string, Partial<Record<PathName, number | null>>> = {}

  for (const connections of options.connections) {
    const runs = new Map<PathName, Run[]>(paths.map((p) => [p.name, []]))
    const rounds = connections === 1 ? options.c1Rounds : options.rounds
    for (let round = 0; round < rounds; round++) {
      for (const path of paths) {
        ctx.log(`get1k: ${connections} conn, round ${round + 1}/${rounds}, ${path.name}`)
        runs.get(path.name)!.push(await measuredRun(ctx, path.url, path.pids, connections, options.getDurationSec))
      }
    }
    const loads = (name: PathName): LoadResult[] => (runs.get(name) ?? []).map((r) => r.load)
    const pick = (key: 'requestsPerSec' | 'p50Ms' | 'p99Ms') => {
      const out: Partial<Record<PathName, number | null>> = {}
      for (const path of paths) {
        const list = loads(path.name)
        out[path.name] = list.length === 0 || list.every((r) => r.requests === 0) ? null : median(list.map((r) => r[key]))
      }
      return { direct: out.direct, limit: out.limit, floor: out.floor, tunnel: out.adit }
    }
    const note = paths
      .map((p) => problems(loads(p.name)) && `${p.name}: ${problems(loads(p.name))}`)
      .filter(Boolean)
      .join('; ')
    const withNote = note ? { note } : {}
    const conn = `${connections} conn${connections === 1 ? '' : 's'}`
    figures.push(
      figure({ id: `get1k.c${connections}.rps`, label: `1 KiB GET, ${conn}`, unit: 'req/s', ...pick('requestsPerSec'), ...withNote }),
      figure({ id: `get1k.c${connections}.p50`, label: `  p50 latency, ${conn}`, unit: 'ms', ...pick('p50Ms') }),
      figure({ id: `get1k.c${connections}.p99`, label: `  p99 latency, ${conn}`, unit: 'ms', ...pick('p99Ms') }),
    )
    if (rounds >= 3) {
      // median / best of the repeats per path, and the worst-best range in the note.
      const spread: Partial<Record<PathName, number | null>> = {}
      const ranges: string[] = []
      for (const path of paths) {
        const rates = loads(path.name).map((r) => r.requestsPerSec)
        const best = Math.max(...rates)
        spread[path.name] = best > 0 ? median(rates) / best : null
        ranges.push(`${path.name} ${Math.round(Math.min(...rates))}–${Math.round(best)}`)
      }
      figures.push(
        figure({
          id: `get1k.c${connections}.spread`,
          label: `  median/best of ${rounds} runs, ${conn}`,
          unit: '',
          direct: spread.direct,
          limit: spread.limit,
          floor: spread.floor,
          tunnel: spread.adit,
          note: `worst–best req/s: ${ranges.join(', ')}`,
        }),
      )
    }
    const cpu: Partial<Record<PathName, number | null>> = {}
    for (const path of paths.slice(1)) cpu[path.name] = cpuPer1000(runs.get(path.name)!)
    cpuByConnections[connections] = cpu
    figures.push(
      figure({
        id: `get1k.c${connections}.cpu`,
        label: `  CPU-ms / 1,000 req, ${conn}`,
        unit: 'ms',
        limit: cpu.limit,
        floor: cpu.floor,
        tunnel: cpu.adit,
        note: "user+system CPU of the relay's two processes (adit: server + agent)",
      }),
    )
    allAdit.push(...(runs.get('adit') ?? []))
    details[`c${connections}`] = Object.fromEntries(runs)
  }

  figures.push(
    figure({
      id: 'get1k.cpu-per-1000',
      label: 'CPU server+agent / 1,000 req',
      unit: 'ms',
      tunnel: cpuPer1000(allAdit),
      note: 'all adit 1 KiB GET runs together',
    }),
  )
  details.cpuPer1000ByConnections = cpuByConnections
  return { figures, details }
}
