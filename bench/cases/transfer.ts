/**
 * One large download and one large upload, direct and through the tunnel,
 * interleaved. While the tunnelled transfer runs, the server's and agent's RSS
 * are sampled every 50 ms: flow control should keep their growth small and
 * independent of the body size.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure, type Figure } from '../figures.js'
import { RssSampler } from '../proc-stats.js'
import { download, upload, type TransferResult } from '../transfer.js'

const MiB = 1024 * 1024

function rate(result: TransferResult | undefined): number | null {
  return result?.complete ? result.mibPerSec : null
}

function incomplete(side: string, result: TransferResult | undefined): string | undefined {
  return result && !result.complete ? `${side} incomplete: ${result.problem ?? '?'} after ${result.bytes} bytes` : undefined
}

export async function runTransfer(ctx: BenchContext): Promise<CaseResult> {
  const { options, tunnel } = ctx
  const bytes = options.transferBytes
  const mib = bytes / MiB
  const timeoutMs = options.transferTimeoutSec * 1000
  const figures: Figure[] = []
  const details: Record<string, unknown> = {}

  for (const direction of ['download', 'upload'] as const) {
    const move = (base: string): Promise<TransferResult> =>
      direction === 'download' ? download(new URL(`bytes/${bytes}`, base).href, bytes, timeoutMs) : upload(new URL('sink', base).href, bytes, timeoutMs)
    ctx.log(`transfer: ${mib} MiB ${direction}, direct`)
    // The local service's own growth while moving the same bytes: what plain node:http costs.
    const localPid = ctx.local.child.pid
    const localSampler = new RssSampler([localPid])
    localSampler.start()
    const direct = await move(ctx.directBase)
    const localRss = localSampler.stop().get(localPid)!
    let tunnelled: TransferResult | undefined
    let rss: ReturnType<RssSampler['stop']> | undefined
    if (tunnel) {
      ctx.log(`transfer: ${mib} MiB ${direction}, tunnel`)
      const sampler = new RssSampler([tunnel.server.child.pid, tunnel.agent.child.pid])
      sampler.start()
      tunnelled = await move(tunnel.base)
      rss = sampler.stop()
    }
    const note = [incomplete('direct', direct), incomplete('tunnel', tunnelled)].filter(Boolean).join('; ')
    figures.push(
      figure({
        id: `transfer.${direction}`,
        label: `${mib} MiB ${direction}`,
        unit: 'MiB/s',
        direct: rate(direct),
        tunnel: rate(tunnelled),
        ...(note ? { note } : {}),
      }),
    )
    if (tunnel && rss) {
      figures.push(
        figure({
          id: `transfer.${direction}.rss.server`,
          label: `  RSS growth server, ${direction}`,
          unit: 'KiB',
          direct: localRss.growthKiB,
          tunnel: rss.get(tunnel.server.child.pid)!.growthKiB,
          note: 'direct column: RSS growth of the local service (plain node:http) moving the same bytes',
        }),
        figure({
          id: `transfer.${direction}.rss.agent`,
          label: `  RSS growth agent, ${direction}`,
          unit: 'KiB',
          direct: localRss.growthKiB,
          tunnel: rss.get(tunnel.agent.child.pid)!.growthKiB,
        }),
      )
    }
    details[direction] = {
      bytes,
      direct,
      tunnel: tunnelled ?? null,
      rss: { local: localRss, ...(tunnel && rss ? { server: rss.get(tunnel.server.child.pid), agent: rss.get(tunnel.agent.child.pid) } : {}) },
    }
  }
  return { figures, details }
}
