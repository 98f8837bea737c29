/**
 * What the durable store costs (issue 11): registrations per second and
 * `/ws` connects per second against one in-process server, with the
 * in-memory store (before) and the SQLite store (after). Bounded: a fixed
 * count per phase, a time cap per phase, a small fixed concurrency.
 *
 *   node dist/bench/store-cost.js [count=2000] [concurrency=8]
 *
 * Also the store alone, without HTTP (what each operation costs the event
 * loop): `create` (a registration's write) and `isRevoked` + `get` (what a
 * `/ws` connect reads). Prints one JSON line per store. Not part of `npm run bench`.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { createMemoryCluster } from '../src/cluster/memory.js'
import { createSqliteCluster } from '../src/cluster/sqlite.js'
import type { Cluster } from '../src/cluster/types.js'
import { silentLogger } from '../src/observability/logger.js'
import { startServer } from '../src/server/server.js'

const count = Number(process.argv[2] ?? 2000)
const concurrency = Number(process.argv[3] ?? 8)
const PHASE_CAP_MS = 30_000

/** Runs `task` `count` times, `concurrency` at once, stopping early at the cap; returns per-second rate and the count done. */
async function rate(task: (i: number) => Promise<void>): Promise<{ perSec: number; done: number }> {
  let next = 0
  let done = 0
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() - started < PHASE_CAP_MS) {
      await task(next++)
      done++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { perSec: Math.round((done * 1000) / (performance.now() - started)), done }
}

function connectOnce(url: string, id: string, secret: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http:', 'ws:')}/ws?id=${id}`, ['adit.v2'], { headers: { authorization: `Bearer ${secret}` } })
    ws.once('open', () => {
      ws.close()
      resolve()
    })
    ws.once('unexpected-response', (_req, res) => reject(new Error(`/ws answered ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** Microseconds per operation of the store itself (median of the whole run: total time / count). */
async function storeAlone(cluster: Cluster): Promise<{ createUs: number; connectReadsUs: number }> {
  const n = Math.min(count, 2000)
  let started = performance.now()
  for (let i = 0; i < n; i++) await cluster.store.create({ id: `bench-${i}`, createdAt: i, lastSeenAt: i, secretGeneration: 0, nonce: 'x' })
  const createUs = ((performance.now() - started) * 1000) / n
  started = performance.now()
  for (let i = 0; i < n * 5; i++) {
    const id = `bench-${i % n}`
    await cluster.store.isRevoked(id)
    await cluster.store.get(id)
  }
  return { createUs: Math.round(createUs), connectReadsUs: Math.round(((performance.now() - started) * 1000) / (n * 5)) }
}

async function measure(kind: 'memory' | 'sqlite'): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'adit-store-cost-'))
  let cluster: (Cluster & { file?: { driver: string } }) | undefined
  if (kind === 'sqlite') cluster = createSqliteCluster({ instanceId: 'bench', dataDir: dir })
  const alone = kind === 'sqlite' ? createSqliteCluster({ instanceId: 'alone', dataDir: join(dir, 'alone') }) : createMemoryCluster({ instanceId: 'alone' })
  const perOp = await storeAlone(alone)
  await alone.close()
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    logger: silentLogger(),
    signingKeys: [randomBytes(32).toString('base64')],
    ...(cluster ? { cluster } : {}),
    security: { registerRate: { ratePerSec: 1e9, burst: 1e9 }, maxTunnelsPerKey: 0 },
  })
  try {
    const tunnels: Array<{ id: string; secret: string }> = []
    const registrations = await rate(async () => {
      const res = await request(`${server.url}/register`, { method: 'POST' })
      if (res.statusCode !== 201) throw new Error(`/register answered ${res.statusCode}`)
      tunnels.push((await res.body.json()) as { id: string; secret: string })
    })
    const connects = await rate(async (i) => {
      const tunnel = tunnels[i % tunnels.length]!
      await connectOnce(server.url, tunnel.id, tunnel.secret)
    })
    return {
      store: kind,
      driver: cluster?.file?.driver ?? null,
      node: process.versions.node,
      registrationsPerSec: registrations.perSec,
      registrations: registrations.done,
      wsConnectsPerSec: connects.perSec,
      wsConnects: connects.done,
      concurrency,
      storeCreateUs: perOp.createUs,
      storeConnectReadsUs: perOp.connectReadsUs,
    }
  } finally {
    await server.close()
    await cluster?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

for (const kind of ['memory', 'sqlite'] as const) process.stdout.write(`${JSON.stringify(await measure(kind))}\n`)
