/**
 * Small requests while a big download runs on the same tunnel: 1 KiB GETs
 * alone, then the same load while a 1 GiB download streams through the same
 * agent connection(s). The figure is the fraction of the alone throughput that
 * survives — per-stream flow control should keep one large transfer from
 * starving small ones. The server's and agent's RSS are sampled during the
 * whole download. Tunnel only: the direct path has no shared connection.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure } from '../figures.js'
import { RssSampler } from '../proc-stats.js'
import { download } from '../transfer.js'
import type { LoadResult } from '../load-protocol.js'

const MiB = 1024 * 1024
/** How long the download runs alone before the small GETs start, so the window sees it at full speed. */
const DOWNLOAD_HEAD_START_MS = 200

export async function runMixed(ctx: BenchContext): Promise<CaseResult> {
  const { options, tunnel, load } = ctx
  const bytes = options.bigDownloadBytes
  if (!tunnel) return { figures: [], details: { skipped: ctx.tunnelProblem ?? 'no tunnel' } }
  if (bytes === 0) return { figures: [], details: { skipped: 'big download disabled (--quick)' } }

  const getUrl = new URL('1k', tunnel.base).href
  const connections = options.mixedConnections
  ctx.log(`mixed: 1 KiB GET alone, ${connections} conns`)
  const alone = await load.run(getUrl, connections, options.getDurationSec)

  ctx.log(`mixed: 1 KiB GET during a ${bytes / MiB} MiB download`)
  const serverPid = tunnel.server.child.pid
  const agentPid = tunnel.agent.child.pid
  const localPid = ctx.local.child.pid
  // The local service streams the same body: its growth is what plain node:http costs for it.
  const sampler = new RssSampler([serverPid, agentPid, localPid])
  sampler.start()
  // Twice the usual bound: this body is ten times the usual size.
  const big = download(new URL(`bytes/${bytes}`, tunnel.base).href, bytes, options.transferTimeoutSec * 2000)
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

  const fraction = during && alone.requestsPerSec > 0 ? during.requestsPerSec / alone.requestsPerSec : null
  const bigNote = bigResult.complete ? undefined : `1 GiB download incomplete: ${bigResult.problem ?? '?'}`
  const figures = [
    figure({
      id: 'mixed.get1k-fraction',
      label: `1 KiB GET during ${bytes / MiB} MiB download`,
      unit: 'req/s',
      tunnel: during?.requestsPerSec ?? null,
      ratio: fraction,
      note: `ratio is during/alone (alone ${alone.requestsPerSec.toFixed(0)} req/s, ${connections} conns); ${overlap}`,
    }),
    figure({
      id: 'mixed.download',
      label: `  ${bytes / MiB} MiB download itself`,
      unit: 'MiB/s',
      tunnel: bigResult.complete ? bigResult.mibPerSec : null,
      ...(bigNote ? { note: bigNote } : {}),
    }),
    figure({
      id: 'mixed.rss.server',
      label: `  RSS growth server, ${bytes / MiB} MiB`,
      unit: 'KiB',
      direct: rss.get(localPid)!.growthKiB,
      tunnel: rss.get(serverPid)!.growthKiB,
      note: 'direct column: RSS growth of the local service streaming the same body',
    }),
    figure({
      id: 'mixed.rss.agent',
      label: `  RSS growth agent, ${bytes / MiB} MiB`,
      unit: 'KiB',
      direct: rss.get(localPid)!.growthKiB,
      tunnel: rss.get(agentPid)!.growthKiB,
    }),
  ]
  return {
    figures,
    details: {
      alone,
      during: during ?? null,
      overlap,
      download: bigResult,
      rss: { server: rss.get(serverPid), agent: rss.get(agentPid), local: rss.get(localPid) },
    },
  }
}
