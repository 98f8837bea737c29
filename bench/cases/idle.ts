/**
 * What an idle tunnel costs the server: a fresh server's RSS before and after
 * N tunnels are registered and connected from one client process, divided by
 * N. A fresh server (not the one the other cases load) keeps earlier garbage
 * and buffers out of the figure.
 */
import { fileURLToPath } from 'node:url'
import type { BenchContext, CaseResult } from '../context.js'
import { figure } from '../figures.js'
import type { IdleTunnelsOpened, OpenIdleTunnels } from '../idle-tunnels.js'
import { rssKiB } from '../proc-stats.js'
import { startAditServer } from '../processes.js'

/** Samples averaged for each RSS reading, spread over about a second. */
const RSS_SAMPLES = 5
const RSS_SAMPLE_GAP_MS = 200
const OPEN_CONCURRENCY = 20

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function averageRss(pid: number): Promise<number> {
  let sum = 0
  for (let i = 0; i < RSS_SAMPLES; i++) {
    await pause(RSS_SAMPLE_GAP_MS)
    sum += rssKiB(pid)
  }
  return sum / RSS_SAMPLES
}

export async function runIdle(ctx: BenchContext): Promise<CaseResult> {
  if (ctx.tunnelProblem !== undefined) return { figures: [], details: { skipped: ctx.tunnelProblem } }
  const count = ctx.options.idleTunnels
  const server = await startAditServer(ctx.children, ctx.launch, 'adit server (idle tunnels)')
  const clientScript = fileURLToPath(new URL('../idle-tunnels.js', import.meta.url))
  const client = ctx.children.fork('idle tunnel client', clientScript)
  try {
    const before = await averageRss(server.child.pid)
    ctx.log(`idle: opening ${count} tunnels`)
    const timeoutMs = Math.max(20_000, count * 60)
    const opened = await new Promise<IdleTunnelsOpened>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`idle tunnel client gave no answer in ${timeoutMs + 5000} ms`)), timeoutMs + 5000)
      client.process.on('message', (message: { type: string }) => {
        if (message.type === 'ready') {
          const job: OpenIdleTunnels = { type: 'open', server: server.url, count, concurrency: OPEN_CONCURRENCY, timeoutMs }
          client.process.send(job)
        } else if (message.type === 'opened') {
          clearTimeout(timer)
          resolve(message as IdleTunnelsOpened)
        }
      })
      void client.exited.then(() => reject(new Error(`idle tunnel client exited:\n${client.tail()}`)))
    })
    const after = await averageRss(server.child.pid)
    const perTunnel = opened.connected > 0 ? (after - before) / opened.connected : null
    const notes = [`${opened.connected} of ${count} connected`]
    if (opened.firstError !== undefined) notes.push(`${opened.failed} failed, first: ${opened.firstError}`)
    return {
      figures: [figure({ id: 'idle.per-tunnel', label: 'server RSS per idle tunnel', unit: 'KiB', tunnel: perTunnel, note: notes.join('; ') })],
      details: { requested: count, ...opened, serverRssBeforeKiB: before, serverRssAfterKiB: after },
    }
  } finally {
    await ctx.children.stop(client)
    await ctx.children.stop(server.child)
  }
}
