/**
 * Small requests while a big download runs through the same relay: 1 KiB
 * GETs alone, then the same load while a 1 GiB download streams through it.
 * The figure is the fraction of the alone throughput that survives — adit's
 * per-stream flow control should keep one large transfer from starving small
 * ones on a shared WebSocket. The RSS of the relay's two processes is sampled
 * during the whole download. Relays only: the direct path has no shared hop.
 */
import type { BenchContext, CaseResult, Relay } from '../context.js'
import { figure } from '../figures.js'
import { RssSampler } from '../proc-stats.js'
import { download, type TransferResult } from '../transfer.js'
import type { LoadResult } from '../load-protocol.js'

const MiB = 1024 * 1024
/** How long the download runs alone before the small GETs start, so the window sees it at full speed. */
const DOWNLOAD_HEAD_START_MS = 200

interface MixedRun {
  alone: LoadResult
  during: LoadResult | undefined
  fraction: number | null
  overlap: string
  download: TransferResult
  serverKiB: number
  agentKiB: number
  localKiB: number
}

async function mixedOn(ctx: BenchContext, relay: Relay, bytes: number): Promise<MixedRun> {
  const { options, load } = ctx
  const getUrl = new URL('1k', relay.base).href
  const connections = options.mixedConnections
  ctx.log(`mixed: ${relay.name}, 1 KiB GET alone, ${connections} conns`)
  const alone = await load.run(getUrl, connections, options.getDurationSec)

  ctx.log(`mixed: ${relay.name}, 1 KiB GET during a ${bytes / MiB} MiB download`)
  const localPid = ctx.local.child.pid
  // The local service streams the same body: its growth is what plain node:http costs for it.
  const sampler = new RssSampler([...relay.pids, localPid])
  sampler.start()
  // Twice the usual bound: this body is ten times the usual size.
  const big = download(new URL(`bytes/${bytes}`, relay.base).href, bytes, options.transferTimeoutSec * 2000)
  let downloading = true
  void big.then(() => {
    downloading = false
  })
  await new Promise<void>((resolve) => setTimeout(resolve, DOWNLOAD_HEAD_START_MS))
  let during: LoadResult | undefined
  let overlap = 'download ran through the whole window'
  if (downloading) {
    const running = load.begin(getUrl, connections, options.getDurationSec)
    // The window ends at its duration or when the download ends, whichever is first.
    void big.then(() => running.stop())
    during = await running.result
    if (!downloading) overlap = 'download ended before the window; window cut at its end'
  } else {
    overlap = 'download ended before the small GETs started'
  }
  const bigResult = await big
  const rss = sampler.stop()
  return {
    alone,
    during,
    fraction: during && alone.requestsPerSec > 0 ? during.requestsPerSec / alone.requestsPerSec : null,
    overlap,
    download: bigResult,
    serverKiB: rss.get(relay.pids[0]!)!.growthKiB,
    agentKiB: rss.get(relay.pids[1]!)!.growthKiB,
    localKiB: rss.get(localPid)!.growthKiB,
  }
}

export async function runMixed(ctx: BenchContext): Promise<CaseResult> {
  const bytes = ctx.options.bigDownloadBytes
  if (bytes === 0) return { figures: [], details: { skipped: 'big download disabled (--quick)' } }
  const runs: Partial<Record<Relay['name'], MixedRun>> = {}
  for (const relay of ctx.relays) runs[relay.name] = await mixedOn(ctx, relay, bytes)
  const of = (pick: (run: MixedRun) => number | null) => ({
    limit: runs.limit ? pick(runs.limit) : null,
    floor: runs.floor ? pick(runs.floor) : null,
    tunnel: runs.adit ? pick(runs.adit) : null,
  })
  const notes = Object.entries(runs).map(
    ([name, r]) => `${name}: ${r.during?.requestsPerSec.toFixed(0) ?? '-'} of ${r.alone.requestsPerSec.toFixed(0)} req/s (${r.overlap})`,
  )
  const incomplete = Object.entries(runs)
    .filter(([, r]) => !r.download.complete)
    .map(([name, r]) => `${name} incomplete: ${r.download.problem ?? '?'}`)
  const mib = bytes / MiB
  const localKiB = runs.adit?.localKiB ?? runs.limit?.localKiB ?? null
  const figures = [
    figure({
      id: 'mixed.get1k-fraction',
      label: `1 KiB GET during ${mib} MiB download`,
      unit: 'x alone',
      ...of((r) => r.fraction),
      note: `${ctx.options.mixedConnections} conns; ${notes.join('; ')}`,
    }),
    figure({
      id: 'mixed.download',
      label: `  ${mib} MiB download itself`,
      unit: 'MiB/s',
      ...of((r) => (r.download.complete ? r.download.mibPerSec : null)),
      ...(incomplete.length > 0 ? { note: incomplete.join('; ') } : {}),
    }),
    figure({
      id: 'mixed.rss.server',
      label: `  RSS growth public side, ${mib} MiB`,
      unit: 'KiB',
      direct: localKiB,
      ...of((r) => r.serverKiB),
      note: 'direct column: RSS growth of the local service streaming the same body',
    }),
    figure({ id: 'mixed.rss.agent', label: `  RSS growth agent side, ${mib} MiB`, unit: 'KiB', direct: localKiB, ...of((r) => r.agentKiB) }),
  ]
  return { figures, details: runs }
}
