/**
 * A case made of variants: a fresh adit server and agent per variant (the
 * first is the reference), each measured with 1 KiB GETs at 1 and 100
 * connections, with the CPU of server + agent per 1,000 requests. Every
 * figure's ratio is against the first variant measured in the same case.
 * Used by `features` (one feature off at a time) and `routes` (a route
 * table and header rules on).
 */
import type { BenchContext } from '../context.js'
import { figure, type Figure } from '../figures.js'
import { startAditAgent, startAditServer } from '../processes.js'
import { cpuPer1000, measuredRun } from './get1k.js'

export interface Variant {
  name: string
  label: string
  server?: string[]
  agent?: string[]
  serverEnv?: Record<string, string>
  /** The path requested on the tunnel (default `1k`). */
  path?: string
}

export interface VariantResult {
  c1: number
  c100: number
  cpuC1: number | null
  cpuC100: number | null
}

/** Measures each variant in turn; one that cannot start is reported in `failed` and costs the others nothing. */
export async function measureVariants(
  ctx: BenchContext,
  caseName: string,
  variants: readonly Variant[],
): Promise<{ results: Record<string, VariantResult>; failed: Record<string, string> }> {
  const { options, children, launch } = ctx
  const results: Record<string, VariantResult> = {}
  const failed: Record<string, string> = {}
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
      const url = new URL(variant.path ?? '1k', agent.publicUrl).href
      const pids = [server.child.pid, agent.child.pid]
      await ctx.load.run(url, 10, options.warmupSec)
      const c1 = await measuredRun(ctx, url, pids, 1, options.getDurationSec)
      const c100 = await measuredRun(ctx, url, pids, 100, options.getDurationSec)
      // A variant answered by anything but the service (a 404 from a route table that missed) measured something else.
      const non2xx = c1.load.non2xx + c100.load.non2xx
      if (non2xx > 0) throw new Error(`${non2xx} non-2xx answers: the variant did not reach the service`)
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
  for (const variant of variants) {
    ctx.log(`${caseName}: ${variant.name}`)
    try {
      await measureVariant(variant)
    } catch (error) {
      failed[variant.name] = error instanceof Error ? error.message : String(error)
      ctx.log(`${caseName}: ${variant.name} failed: ${failed[variant.name]}`)
    }
  }
  return { results, failed }
}

/** Four figures per variant (req/s and CPU at 1 and 100 connections), each as a ratio to the first variant. */
export function variantFigures(caseName: string, variants: readonly Variant[], results: Record<string, VariantResult>): Figure[] {
  const base = results[variants[0]!.name]
  const against = (value: number | null, reference: number | null | undefined): number | null =>
    value !== null && reference !== null && reference !== undefined && reference !== 0 ? value / reference : null
  const figures: Figure[] = []
  for (const variant of variants) {
    const r = results[variant.name]
    if (r === undefined) continue
    const id = `${caseName}.${variant.name}`
    figures.push(
      figure({ id: `${id}.c1`, label: `${variant.label}, 1 conn`, unit: 'req/s', tunnel: r.c1, ratio: against(r.c1, base?.c1) }),
      figure({ id: `${id}.c100`, label: `  100 conns`, unit: 'req/s', tunnel: r.c100, ratio: against(r.c100, base?.c100) }),
      figure({ id: `${id}.cpu.c1`, label: `  CPU-ms / 1,000 req, 1 conn`, unit: 'ms', tunnel: r.cpuC1, ratio: against(r.cpuC1, base?.cpuC1) }),
      figure({ id: `${id}.cpu.c100`, label: `  CPU-ms / 1,000 req, 100 conns`, unit: 'ms', tunnel: r.cpuC100, ratio: against(r.cpuC100, base?.cpuC100) }),
    )
  }
  return figures
}
