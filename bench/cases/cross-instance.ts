/**
 * Cross-instance: a public request that lands on server instance A, served by
 * the agent connected to instance B, through the cluster relay over Redis
 * (REDIS_URL, default redis://127.0.0.1:6379). Two server processes share the
 * Redis (own key prefix per run) and a signing key; the agent connects to B.
 * The same tunnel is measured through B (same instance) and through A (cross
 * instance), interleaved, so the ratio cross/same comes from one run:
 * 1 KiB GET throughput and one large download. In the table, "direct" is the
 * same-instance figure and "tunnel" the cross-instance one.
 *
 * Without a Redis the case reports why and measures nothing.
 */
import { randomBytes } from 'node:crypto'
import { createClient } from 'redis'
import type { BenchContext, CaseResult } from '../context.js'
import { figure, median, type Figure } from '../figures.js'
import type { LoadResult } from '../load-protocol.js'
import { RssSampler } from '../proc-stats.js'
import { startAditAgent, type AditLaunch } from '../processes.js'
import type { Child, ChildSet } from '../children.js'
import { download, type TransferResult } from '../transfer.js'

const MiB = 1024 * 1024
const STARTUP_TIMEOUT_MS = 15_000

/** Null when a Redis answers PING within 2 s, else why not. */
async function redisProblem(url: string): Promise<string | null> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } })
  client.on('error', () => {})
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer to PING within 2 s')), 2_000)
      }),
    ])
    return null
  } catch (error) {
    return (error as Error).message || 'unreachable'
  } finally {
    clearTimeout(timer)
    if (client.isOpen) client.destroy()
  }
}

async function startMember(children: ChildSet, launch: AditLaunch, name: string, env: NodeJS.ProcessEnv): Promise<{ child: Child; url: string }> {
  const child = children.spawnNode(name, launch.bin, ['server', '--port', '0', '--host', '127.0.0.1'], { ...process.env, ...env })
  const line = await child.waitForLine((l) => l.message === 'listening' && typeof l.url === 'string', STARTUP_TIMEOUT_MS)
  return { child, url: String(line.url) }
}

function skipped(reason: string): CaseResult {
  return {
    figures: [figure({ id: 'cross-instance', label: 'cross-instance (A public, B agent)', unit: '', note: reason })],
    details: { status: 'skipped', reason },
  }
}

function rate(result: TransferResult): number | null {
  return result.complete ? result.mibPerSec : null
}

export async function runCrossInstance(ctx: BenchContext): Promise<CaseResult> {
  const { options, children, launch } = ctx
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
  if (ctx.tunnelProblem !== undefined) return skipped(`skipped: ${ctx.tunnelProblem}`)
  const problem = await redisProblem(redisUrl)
  if (problem !== null) {
    const reason = `skipped: no Redis at REDIS_URL=${new URL(redisUrl).host} (${problem}); start one (.ci/redis.sh) to measure cross-instance`
    ctx.log(`cross-instance: ${reason}`)
    return skipped(reason)
  }

  const prefix = `adit-bench:${process.pid}-${randomBytes(3).toString('hex')}:`
  const env = { REDIS_URL: redisUrl, ADIT_REDIS_PREFIX: prefix, ADIT_SIGNING_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'info' }
  ctx.log('cross-instance: starting servers A and B on one Redis, the agent on B')
  const a = await startMember(children, launch, 'adit server A', env)
  const b = await startMember(children, launch, 'adit server B', env)
  const agent = await startAditAgent(children, launch, b.url, ctx.local.url, undefined)
  try {
    const id = new URL(agent.publicUrl).pathname.split('/')[2]!
    const same = `${b.url}/pub/${id}/`
    const cross = `${a.url}/pub/${id}/`
    const connections = options.connections.includes(10) ? 10 : options.connections[0]!

    ctx.log(`cross-instance: warm-up ${options.warmupSec}s per path`)
    await ctx.load.run(new URL('1k', same).href, connections, options.warmupSec)
    await ctx.load.run(new URL('1k', cross).href, connections, options.warmupSec)

    const sameRuns: LoadResult[] = []
    const crossRuns: LoadResult[] = []
    for (let round = 0; round < options.rounds; round++) {
      ctx.log(`cross-instance: 1 KiB GET, ${connections} conns, round ${round + 1}/${options.rounds}`)
      sameRuns.push(await ctx.load.run(new URL('1k', same).href, connections, options.getDurationSec))
      crossRuns.push(await ctx.load.run(new URL('1k', cross).href, connections, options.getDurationSec))
    }
    const bytes = options.transferBytes
    const timeoutMs = options.transferTimeoutSec * 1000
    ctx.log(`cross-instance: ${bytes / MiB} MiB download, same instance`)
    const sameDown = await download(new URL(`bytes/${bytes}`, same).href, bytes, timeoutMs)
    ctx.log(`cross-instance: ${bytes / MiB} MiB download, across instances`)
    const sampler = new RssSampler([a.child.pid, b.child.pid])
    sampler.start()
    const crossDown = await download(new URL(`bytes/${bytes}`, cross).href, bytes, timeoutMs)
    const rss = sampler.stop()

    const bad = (runs: LoadResult[]): string | undefined => {
      const n = runs.reduce((s, r) => s + r.non2xx + r.errors + r.timeouts, 0)
      return n > 0 ? `${n} failed` : undefined
    }
    const note = [
      bad(sameRuns) && `same: ${bad(sameRuns)}`,
      bad(crossRuns) && `cross: ${bad(crossRuns)}`,
      !crossDown.complete && `cross download: ${crossDown.problem}`,
    ]
      .filter(Boolean)
      .join('; ')
    const growth = (pid: number): number | null => rss.get(pid)?.growthKiB ?? null
    const figures: Figure[] = [
      figure({
        id: 'cross-instance.get1k.rps',
        label: `cross/same instance: 1 KiB GET, ${connections} conns`,
        unit: 'req/s',
        direct: median(sameRuns.map((r) => r.requestsPerSec)),
        tunnel: median(crossRuns.map((r) => r.requestsPerSec)),
        ...(note ? { note } : {}),
      }),
      figure({
        id: 'cross-instance.get1k.p50',
        label: '  p50 latency',
        unit: 'ms',
        direct: median(sameRuns.map((r) => r.p50Ms)),
        tunnel: median(crossRuns.map((r) => r.p50Ms)),
      }),
      figure({
        id: 'cross-instance.download',
        label: `cross/same instance: ${bytes / MiB} MiB download`,
        unit: 'MiB/s',
        direct: rate(sameDown),
        tunnel: rate(crossDown),
      }),
      figure({ id: 'cross-instance.rss.public', label: '  RSS growth, A (public side)', unit: 'KiB', tunnel: growth(a.child.pid) }),
      figure({ id: 'cross-instance.rss.agent-side', label: '  RSS growth, B (agent side)', unit: 'KiB', tunnel: growth(b.child.pid) }),
    ]
    return {
      figures,
      details: {
        redis: new URL(redisUrl).host,
        connections,
        same: sameRuns,
        cross: crossRuns,
        sameDownload: sameDown,
        crossDownload: crossDown,
        rss: Object.fromEntries(rss),
      },
    }
  } finally {
    await children.stop(agent.child)
    await agent.cleanup()
    await Promise.all([children.stop(a.child), children.stop(b.child)])
    // The run's keys (records, presence) go with their prefix.
    const admin = createClient({ url: redisUrl })
    admin.on('error', () => {})
    try {
      await admin.connect()
      for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) if (keys.length > 0) await admin.del(keys)
    } catch {
      // best effort: keys without a TTL are only records of a finished bench tunnel
    } finally {
      if (admin.isOpen) admin.destroy()
    }
  }
}
