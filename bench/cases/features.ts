/**
 * What each of adit's features costs: a fresh server and agent per variant —
 * the user's defaults, then each feature off on its own (inspector, metrics,
 * access log) — each measured with 1 KiB GETs at
 * 1 and 100 connections, with the CPU of server + agent per 1,000 requests.
 * Every figure's ratio is against the defaults measured in the same case.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure, type Figure } from '../figures.js'
import { startAditAgent, startAditServer } from '../processes.js'
import { cpuPer1000, measuredRun } from './get1k.js'

interface Variant {
  name: string
  label: string
  server?: string[]
  agent?: string[]
  serverEnv?: Record<string, string>
}

/** The user's defaults, then one feature off at a time, by its user-facing switch. */
export const variants: Variant[] = [
  { name: 'defaults', label: 'adit, defaults' },
  { name: 'no-inspector', label: 'without inspector (--no-inspect)', agent: ['--no-inspect'] },
  { name: 'no-metrics', label: 'without metrics (--metrics false)', server: ['--metrics', 'false'] },
  { name: 'no-access-log', label: 'without access log (--log-level warn)', server: ['--log-level', 'warn'] },
]

export async function runFeatures(ctx: BenchContext): Promise<CaseResult> {
  if (ctx.tunnelProblem !== undefined) return { figures: [], details: { skipped: ctx.tunnelProblem } }
  const { options, children, launch } = ctx
  const results: Record<string, { c1: number; c100: number; cpuC1: number | null; cpuC100: number | null }> = {}
  const failed: Record<string, string> = {}
  for (const variant of variants) {
    ctx.log(`features: ${variant.name}`)
    try {
      await measureVariant(variant)
    } catch (error) {
      // One variant that cannot start must not cost the others' figures.
      failed[variant.name] = error instanceof Error ? error.message : String(error)
      ctx.log(`features: ${variant.name} failed: ${failed[variant.name]}`)
    }
  }
  async function measureVariant(variant: Variant): Promise<void> {
    const server = await startAditServer(children, launch, `adit server (${variant.name})`, variant.server, variant.serverEnv)
    let agent: Awaited<ReturnType<typeof startAditAgent>>
    try {
      agent = await startAditAgent(children, launch, server.url, ctx.local.url, options.agentConnections, variant.agent)
    } catch (error) {
      await children.stop(server.child)
      throw error
    }
    try {
      const url = new URL('1k', agent.publicUrl).href
      const pids = [server.child.pid, agent.child.pid]
      await ctx.load.run(url, 10, options.warmupSec)
      const c1 = await measuredRun(ctx, url, pids, 1, options.getDurationSec)
      const c100 = await measuredRun(ctx, url, pids, 100, options.getDurationSec)
      results[variant.name] = {
        c1: c1.load.requestsPerSec,
        c100: c100.load.requestsPerSec,
        cpuC1: cpuPer1000([c1]),
        cpuC100: cpuPer1000([c100]),
      }
    } finally {
      await children.stop(agent.child)
      await children.stop(server.child)
      await agent.cleanup()
    }
  }
  const base = results.defaults
  const against = (value: number | null, reference: number | null | undefined): number | null =>
    value !== null && reference !== null && reference !== undefined && reference !== 0 ? value / reference : null
  const figures: Figure[] = []
  for (const variant of variants) {
    const r = results[variant.name]
    if (r === undefined) continue
    const id = `features.${variant.name}`
    figures.push(
      figure({ id: `${id}.c1`, label: `${variant.label}, 1 conn`, unit: 'req/s', tunnel: r.c1, ratio: against(r.c1, base?.c1) }),
      figure({ id: `${id}.c100`, label: `  100 conns`, unit: 'req/s', tunnel: r.c100, ratio: against(r.c100, base?.c100) }),
      figure({ id: `${id}.cpu.c1`, label: `  CPU-ms / 1,000 req, 1 conn`, unit: 'ms', tunnel: r.cpuC1, ratio: against(r.cpuC1, base?.cpuC1) }),
      figure({ id: `${id}.cpu.c100`, label: `  CPU-ms / 1,000 req, 100 conns`, unit: 'ms', tunnel: r.cpuC100, ratio: against(r.cpuC100, base?.cpuC100) }),
    )
  }
  if (figures[0]) figures[0].note = 'the adit/direct column of every features row is this variant / the defaults, both measured in this case'
  return { figures, details: { ...results, ...(Object.keys(failed).length > 0 ? { failed } : {}) } }
}
