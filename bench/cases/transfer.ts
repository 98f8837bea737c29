/**
 * One large download and one large upload on every path (direct, limit,
 * floor, adit), one after another. While a relay moves the body, the RSS of
 * its two processes is sampled every 50 ms: flow control should keep adit's
 * growth small and independent of the body size (the floor has none).
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure, type Figure } from '../figures.js'
import { cpuMs, RssSampler } from '../proc-stats.js'
import { download, upload, type TransferResult } from '../transfer.js'

const MiB = 1024 * 1024

const sumCpu = (pids: readonly number[]): number => pids.reduce((ms, pid) => ms + cpuMs(pid), 0)

function rate(result: TransferResult | undefined): number | null {
  return result?.complete ? result.mibPerSec : null
}

function incomplete(side: string, result: TransferResult | undefined): string | undefined {
  return result && !result.complete ? `${side} incomplete: ${result.problem ?? '?'} after ${result.bytes} bytes` : undefined
}

export async function runTransfer(ctx: BenchContext): Promise<CaseResult> {
  const { options } = ctx
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
    const results: Record<string, { result: TransferResult; serverKiB: number; agentKiB: number; cpuMsPerMiB: number | null }> = {}
    for (const relay of ctx.relays) {
      ctx.log(`transfer: ${mib} MiB ${direction}, ${relay.name}`)
      const sampler = new RssSampler(relay.pids)
      sampler.start()
      const cpuBefore = sumCpu(relay.pids)
      const result = await move(relay.base)
      // CPU per MiB moved: unlike MiB/s it hardly depends on what else the machine runs.
      const cpuMsPerMiB = result.complete ? (sumCpu(relay.pids) - cpuBefore) / mib : null
      const rss = sampler.stop()
      results[relay.name] = { result, serverKiB: rss.get(relay.pids[0]!)!.growthKiB, agentKiB: rss.get(relay.pids[1]!)!.growthKiB, cpuMsPerMiB }
    }
    const note = [incomplete('direct', direct), ...Object.entries(results).map(([name, r]) => incomplete(name, r.result))].filter(Boolean).join('; ')
    figures.push(
      figure({
        id: `transfer.${direction}`,
        label: `${mib} MiB ${direction}`,
        unit: 'MiB/s',
        direct: rate(direct),
        limit: rate(results.limit?.result),
        floor: rate(results.floor?.result),
        tunnel: rate(results.adit?.result),
        ...(note ? { note } : {}),
      }),
      figure({
        id: `transfer.${direction}.cpu`,
        label: `  CPU-ms / MiB, ${direction}`,
        unit: 'ms',
        limit: results.limit?.cpuMsPerMiB,
        floor: results.floor?.cpuMsPerMiB,
        tunnel: results.adit?.cpuMsPerMiB,
        note: "user+system CPU of the relay's two processes (adit: server + agent) per MiB moved",
      }),
      figure({
        id: `transfer.${direction}.rss.server`,
        label: `  RSS growth public side, ${direction}`,
        unit: 'KiB',
        direct: localRss.growthKiB,
        limit: results.limit?.serverKiB,
        floor: results.floor?.serverKiB,
        tunnel: results.adit?.serverKiB,
        note: 'direct column: RSS growth of the local service (plain node:http) moving the same bytes',
      }),
      figure({
        id: `transfer.${direction}.rss.agent`,
        label: `  RSS growth agent side, ${direction}`,
        unit: 'KiB',
        direct: localRss.growthKiB,
        limit: results.limit?.agentKiB,
        floor: results.floor?.agentKiB,
        tunnel: results.adit?.agentKiB,
      }),
    )
    details[direction] = { bytes, direct, localRss, ...results }
  }
  return { figures, details }
}
