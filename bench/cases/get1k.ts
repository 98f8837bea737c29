/**
 * 1 KiB GETs at each connection count, direct and through the tunnel,
 * interleaved (direct, tunnel, direct, tunnel …) so drift in the machine hits
 * both sides alike. Also the CPU the server and agent spend per 1,000
 * tunnelled requests, from /proc utime+stime around each tunnel run.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure, median, type Figure } from '../figures.js'
import type { LoadResult } from '../load-protocol.js'
import { cpuMs } from '../proc-stats.js'

interface TunnelRun {
  load: LoadResult
  serverCpuMs: number
  agentCpuMs: number
}

function problems(runs: LoadResult[]): string | undefined {
  const non2xx = runs.reduce((n, r) => n + r.non2xx, 0)
  const errors = runs.reduce((n, r) => n + r.errors + r.timeouts, 0)
  if (non2xx === 0 && errors === 0) return undefined
  return `${non2xx} non-2xx, ${errors} errors/timeouts`
}

export async function runGet1k(ctx: BenchContext): Promise<CaseResult> {
  const { options, load, tunnel } = ctx
  const directUrl = new URL('1k', ctx.directBase).href
  const tunnelUrl = tunnel ? new URL('1k', tunnel.base).href : undefined

  ctx.log(`get1k: warm-up ${options.warmupSec}s per path`)
  await load.run(directUrl, 10, options.warmupSec)
  if (tunnelUrl) await load.run(tunnelUrl, 10, options.warmupSec)

  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  let tunnelCpuMs = 0
  let tunnelRequests = 0
  const cpuByConnections: Record<string, number> = {}

  for (const connections of options.connections) {
    const direct: LoadResult[] = []
    const tunnelled: TunnelRun[] = []
    for (let round = 0; round < options.rounds; round++) {
      ctx.log(`get1k: ${connections} conn, round ${round + 1}/${options.rounds}, direct`)
      direct.push(await load.run(directUrl, connections, options.getDurationSec))
      if (tunnel && tunnelUrl) {
        ctx.log(`get1k: ${connections} conn, round ${round + 1}/${options.rounds}, tunnel`)
        const server0 = cpuMs(tunnel.server.child.pid)
        const agent0 = cpuMs(tunnel.agent.child.pid)
        const result = await load.run(tunnelUrl, connections, options.getDurationSec)
        tunnelled.push({
          load: result,
          serverCpuMs: cpuMs(tunnel.server.child.pid) - server0,
          agentCpuMs: cpuMs(tunnel.agent.child.pid) - agent0,
        })
      }
    }
    const tunnelLoads = tunnelled.map((t) => t.load)
    const pick = (runs: LoadResult[], key: 'requestsPerSec' | 'p50Ms' | 'p99Ms'): number | null =>
      runs.length === 0 || runs.every((r) => r.requests === 0) ? null : median(runs.map((r) => r[key]))
    const note = [problems(direct) && `direct: ${problems(direct)}`, problems(tunnelLoads) && `tunnel: ${problems(tunnelLoads)}`].filter(Boolean).join('; ')
    const withNote = note ? { note } : {}
    const conn = `${connections} conn${connections === 1 ? '' : 's'}`
    figures.push(
      figure({
        id: `get1k.c${connections}.rps`,
        label: `1 KiB GET, ${conn}`,
        unit: 'req/s',
        direct: pick(direct, 'requestsPerSec'),
        tunnel: pick(tunnelLoads, 'requestsPerSec'),
        ...withNote,
      }),
      figure({
        id: `get1k.c${connections}.p50`,
        label: `  p50 latency, ${conn}`,
        unit: 'ms',
        direct: pick(direct, 'p50Ms'),
        tunnel: pick(tunnelLoads, 'p50Ms'),
      }),
      figure({
        id: `get1k.c${connections}.p99`,
        label: `  p99 latency, ${conn}`,
        unit: 'ms',
        direct: pick(direct, 'p99Ms'),
        tunnel: pick(tunnelLoads, 'p99Ms'),
      }),
    )
    const cpu = tunnelled.reduce((ms, t) => ms + t.serverCpuMs + t.agentCpuMs, 0)
    const requests = tunnelLoads.reduce((n, r) => n + r.requests, 0)
    if (requests > 0) cpuByConnections[connections] = (cpu / requests) * 1000
    tunnelCpuMs += cpu
    tunnelRequests += requests
    details[`c${connections}`] = { direct, tunnel: tunnelled }
  }

  figures.push(
    figure({
      id: 'get1k.cpu-per-1000',
      label: 'CPU server+agent / 1,000 req',
      unit: 'ms',
      tunnel: tunnelRequests > 0 ? (tunnelCpuMs / tunnelRequests) * 1000 : null,
      note: 'all tunnelled 1 KiB GET runs together',
    }),
  )
  details.cpuPer1000ByConnections = cpuByConnections
  return { figures, details }
}
