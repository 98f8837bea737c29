/**
 * A TCP tunnel (`adit tcp` + `adit connect`, issue 14): one large download
 * and one large upload over raw TCP to the local service's TCP port —
 * directly, through the TCP limit (two raw TCP hops), and through adit
 * (visitor → WebSocket → server → stream → agent → TCP). The floor relay
 * carries no TCP, so its column stays empty.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure, type Figure } from '../figures.js'
import { startAditTcpTunnel, startTcpLimitRelay } from '../processes.js'
import { tcpTransfer, type TransferResult } from '../transfer.js'

const MiB = 1024 * 1024

function rate(result: TransferResult | undefined): number | null {
  return result?.complete ? result.mibPerSec : null
}

export async function runTcp(ctx: BenchContext): Promise<CaseResult> {
  const { options } = ctx
  const bytes = options.transferBytes
  const timeoutMs = options.transferTimeoutSec * 1000
  const target = `127.0.0.1:${ctx.local.tcpPort}`
  const limit = options.noTunnel ? undefined : await startTcpLimitRelay(ctx.children, target)
  const tunnel = ctx.tunnel === undefined ? undefined : await startAditTcpTunnel(ctx.children, ctx.launch, ctx.tunnel.server.url, target)
  const figures: Figure[] = []
  const details: Record<string, unknown> = {}
  try {
    for (const direction of ['download', 'upload'] as const) {
      ctx.log(`tcp: ${bytes / MiB} MiB ${direction}, direct`)
      const direct = await tcpTransfer(ctx.local.tcpPort, direction, bytes, timeoutMs)
      ctx.log(`tcp: ${bytes / MiB} MiB ${direction}, limit`)
      const viaLimit = limit === undefined ? undefined : await tcpTransfer(limit.port, direction, bytes, timeoutMs)
      ctx.log(`tcp: ${bytes / MiB} MiB ${direction}, adit`)
      const viaAdit = tunnel === undefined ? undefined : await tcpTransfer(tunnel.port, direction, bytes, timeoutMs)
      const problems = [
        ['direct', direct],
        ['limit', viaLimit],
        ['adit', viaAdit],
      ]
        .filter(([, r]) => r !== undefined && !(r as TransferResult).complete)
        .map(([name, r]) => `${name as string} incomplete: ${(r as TransferResult).problem ?? '?'}`)
      figures.push(
        figure({
          id: `tcp.${direction}`,
          label: `TCP tunnel ${bytes / MiB} MiB ${direction}`,
          unit: 'MiB/s',
          direct: rate(direct),
          limit: rate(viaLimit),
          floor: null,
          tunnel: rate(viaAdit),
          note: ['adit: adit connect → WebSocket → server → agent → TCP', ...problems].join('; '),
        }),
      )
      details[direction] = { bytes, direct, limit: viaLimit, adit: viaAdit }
    }
  } finally {
    await tunnel?.cleanup().catch(() => undefined)
  }
  return { figures, details }
}
