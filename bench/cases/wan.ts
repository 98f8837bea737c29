/**
 * A far agent: the same download and upload with the agent's WebSocket
 * running through a delay line (25 ms each way, a 50 ms round trip, no
 * bandwidth limit), as when the agent sits in another region than the
 * server. Latency, not CPU, bounds this case, so it is steady on a busy
 * machine. A fixed 1 MiB stream window would allow at most 1 MiB per round
 * trip (20 MiB/s); window growth (docs/protocol.md) is what lifts it.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { startDelayLine } from '../delay-line.js'
import { figure, type Figure } from '../figures.js'
import { startAditAgent } from '../processes.js'
import { download, upload, type TransferResult } from '../transfer.js'

const MiB = 1024 * 1024
/** One way; the round trip is twice this. */
export const WAN_ONE_WAY_MS = 25

function rate(result: TransferResult | undefined): number | null {
  return result?.complete ? result.mibPerSec : null
}

export async function runWan(ctx: BenchContext): Promise<CaseResult> {
  if (ctx.tunnel === undefined) return { figures: [], details: { skipped: ctx.tunnelProblem } }
  const { options } = ctx
  const bytes = options.transferBytes
  const timeoutMs = options.transferTimeoutSec * 1000
  const serverPort = Number(new URL(ctx.tunnel.server.url).port)
  const line = await startDelayLine(serverPort, WAN_ONE_WAY_MS)
  const figures: Figure[] = []
  const details: Record<string, unknown> = { oneWayMs: WAN_ONE_WAY_MS }
  const rttMs = 2 * WAN_ONE_WAY_MS
  const fixedWindowCeiling = 1 / (rttMs / 1000)
  try {
    // The agent dials the server through the line; public clients reach the server directly.
    const agent = await startAditAgent(ctx.children, ctx.launch, `http://127.0.0.1:${line.port}`, ctx.directBase, options.agentConnections)
    try {
      const base = agent.publicUrl.replace(`127.0.0.1:${line.port}`, `127.0.0.1:${serverPort}`)
      for (const direction of ['download', 'upload'] as const) {
        ctx.log(`wan: ${bytes / MiB} MiB ${direction}, agent ${rttMs} ms away`)
        const result =
          direction === 'download'
            ? await download(new URL(`bytes/${bytes}`, base).href, bytes, timeoutMs)
            : await upload(new URL('sink', base).href, bytes, timeoutMs)
        figures.push(
          figure({
            id: `wan.${direction}`,
            label: `${bytes / MiB} MiB ${direction}, agent ${rttMs} ms away`,
            unit: 'MiB/s',
            direct: null,
            limit: null,
            floor: null,
            tunnel: rate(result),
            note: [
              `a fixed 1 MiB stream window allows at most ${fixedWindowCeiling.toFixed(0)} MiB/s at this round trip`,
              ...(result.complete ? [] : [`incomplete: ${result.problem ?? '?'} after ${result.bytes} bytes`]),
            ].join('; '),
          }),
        )
        details[direction] = result
      }
    } finally {
      await ctx.children.stop(agent.child)
      await agent.cleanup()
    }
  } finally {
    await line.close()
  }
  return { figures, details }
}
