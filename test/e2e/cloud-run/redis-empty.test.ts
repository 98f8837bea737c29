/**
 * The soak's "Redis restarted" finding: a Redis without persistence comes
 * back empty, and with REDIS_URL the tunnel records live there only. Agents
 * that stayed connected never wrote theirs again, so every public request got
 * `404 unknown tunnel` for good (and every reconnecting agent a `401`). Now
 * the instance holding a connected agent writes back the record it verified
 * that agent against — same rules, nonce and secret generation — once it
 * sees the store's epoch change. Fail closed: a tunnel revoked on another
 * instance is disconnected here rather than revived by a later wipe.
 *
 * "Restarted empty" is simulated by deleting this run's keys (never a
 * FLUSHALL of the shared Redis); a real restart of a private redis-server
 * goes through the same check, started at once when the connection is back.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import type { RedisClientType } from 'redis'
import { WebSocket } from 'ws'
import { connect, type Tunnel } from '../../../src/agent/tunnel.js'
import { createRedisCluster } from '../../../src/cluster/redis.js'
import type { Cluster } from '../../../src/cluster/types.js'
import { silentLogger } from '../../../src/observability/logger.js'
import { startServer, type RunningServer } from '../../../src/server/server.js'
import { adminClient, deleteKeys, REDIS_URL, redisOrSkip, runPrefix, startPrivateRedis, type PrivateRedis } from '../../harness/cluster.js'
import { startLocalService, type LocalService } from '../../harness/local-service.js'

const run = await redisOrSkip('tunnel records after Redis comes back empty')
const signingKeys = [randomBytes(32).toString('base64')]
const AUTH = `Basic ${Buffer.from('ann:s3cret-pass').toString('base64')}`

async function member(
  url: string,
  prefix: string,
  name: string,
  closers: Array<() => Promise<unknown>>,
  relay = { presenceRefreshMs: 300, presenceTtlMs: 3_000 },
  holds = { holdTimeoutMs: 500, responseTimeoutMs: 2_000 },
): Promise<RunningServer> {
  const instanceId = `${name}-${randomBytes(3).toString('hex')}`
  let server: RunningServer | undefined
  const cluster: Cluster = await createRedisCluster({
    url,
    keyPrefix: prefix,
    instanceId,
    reconnectMaxMs: 200,
    // As the CLI does: a recovery is acted on at once, not at the next tick.
    onHealthChange: (healthy) => server?.relay?.noteHealth(healthy),
  })
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    signingKeys,
    cluster,
    logger: silentLogger(),
    holdTimeoutMs: holds.holdTimeoutMs,
    // The bus delivers at most once: a relayed request published while Redis restarts can be lost,
    // and is then answered 504 at this timeout (the client retries). Short here so the poll goes on.
    responseTimeoutMs: holds.responseTimeoutMs,
    // Rounds and caches short so the test is quick; the defaults are 5 s each.
    relay,
    security: { accessCacheMs: 200 },
  })
  closers.push(async () => {
    await server!.close()
    await cluster.close()
  })
  return server
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await request(url, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 })
  return { status: res.statusCode, body: await res.body.text() }
}

/** The status a fresh agent connection with the tunnel's own secret gets from `server` (101: accepted). */
function agentAccepted(server: RunningServer, tunnel: Tunnel): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?id=${tunnel.id}`, ['adit.v2'], {
      headers: { authorization: `Bearer ${tunnel.state.secret}` },
    })
    ws.once('upgrade', () => {
      ws.terminate()
      resolve(101)
    })
    ws.once('unexpected-response', (_req, res) => {
      res.resume()
      ws.terminate()
      resolve(res.statusCode ?? 0)
    })
    ws.once('error', reject)
  })
}

/** Polls until `url` answers 200 (with the tunnel's credentials); the time it took, or throws after `withinMs`. */
async function servedAgain(url: string, withinMs: number): Promise<number> {
  const start = Date.now()
  let last = { status: 0, body: '' }
  while (Date.now() - start < withinMs) {
    last = await get(url, { authorization: AUTH }).catch((error: Error) => ({ status: 0, body: error.message }))
    if (last.status === 200) return Date.now() - start
    await delay(100)
  }
  throw new Error(`not served again within ${withinMs} ms: last answer ${last.status} ${last.body.trim()}`)
}

describe('a Redis that comes back empty', { skip: !run }, () => {
  const prefix = runPrefix('redis-empty')
  const closers: Array<() => Promise<unknown>> = []
  let admin: RedisClientType
  let service: LocalService
  let a: RunningServer
  let b: RunningServer
  let tunnel: Tunnel
  before(async () => {
    admin = await adminClient(REDIS_URL)
    closers.push(async () => {
      await deleteKeys(admin, prefix)
      admin.destroy()
    })
    service = await startLocalService()
    closers.push(() => service.close())
    a = await member(REDIS_URL, prefix, 'a', closers)
    b = await member(REDIS_URL, prefix, 'b', closers)
    // The agent is on B only, with basic auth: A serves it through the relay, and must keep its rules.
    tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger(), access: { basic_auth: 'ann:s3cret-pass' } })
    closers.push(() => tunnel.close())
  })
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('serves the tunnel again, with its rules, without the agent registering again', async (t) => {
    const viaA = `${a.url}/pub/${tunnel.id}/echo`
    assert.equal((await get(viaA, { authorization: AUTH })).status, 200)
    assert.equal((await get(viaA)).status, 401, 'basic auth applies')
    const before = await a.cluster.store.get(tunnel.id)
    assert.ok(before !== null)

    await deleteKeys(admin, prefix)
    assert.equal(await a.cluster.store.get(tunnel.id), null, 'the record is gone')
    // The guard's cache (200 ms here) runs out; before the fix every request was 404 from then on.
    const took = await servedAgain(viaA, 10_000)
    t.diagnostic(`served across instances again ${took} ms after the keys were deleted`)
    assert.equal((await get(viaA)).status, 401, 'the restored record carries the same rules: no credentials, no entry')
    assert.equal((await get(`${b.url}/pub/${tunnel.id}/echo`)).status, 401)
    const after = await a.cluster.store.get(tunnel.id)
    assert.ok(after !== null)
    assert.deepEqual(
      { nonce: after.nonce, access: after.access, secretGeneration: after.secretGeneration, createdAt: after.createdAt, name: after.name },
      { nonce: before.nonce, access: before.access, secretGeneration: before.secretGeneration, createdAt: before.createdAt, name: before.name },
      'the record written back is the one the agent registered',
    )
    assert.equal(b.relay!.records.restored, 1, 'B, which holds the agent, wrote it back')
    assert.equal(a.relay!.records.restored, 0, 'A, which holds no agent for it, did not')
    // The agent's own secret still verifies: a fresh connection is accepted.
    assert.equal(await agentAccepted(a, tunnel), 101, 'the secret matches the restored record (on any instance)')
  })

  it('does not revive a tunnel revoked on another instance: its agent there is disconnected first', async () => {
    const other = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger(), reconnectBaseMs: 50, reconnectMaxMs: 200 })
    closers.push(() => other.close())
    // The agent is told its tunnel was revoked (GOAWAY REVOKED, on each of its connections): final, an error event.
    const told = new Promise<Error>((resolve) => other.on('error', resolve))
    const viaA = `${a.url}/pub/${other.id}/echo`
    assert.equal((await get(viaA)).status, 200)
    const revoked = await request(`${a.url}/tunnels/${other.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${other.state.secret}` } })
    await revoked.body.text()
    assert.equal(revoked.statusCode, 204)
    // A revoked on A; its agent is connected to B. Before the fix it stayed there, connected, for good.
    const deadline = Date.now() + 5_000
    while (b.registry.get(other.id) !== undefined) {
      assert.ok(Date.now() < deadline, 'B did not disconnect the agent of a tunnel revoked on A within 5 s')
      await delay(50)
    }
    assert.equal(((await told) as Error & { code?: string }).code, 'ADIT_ERR_TUNNEL_REVOKED')
    await deleteKeys(admin, prefix)
    // Several rounds: nothing here may bring it back, and the first tunnel is restored meanwhile.
    await servedAgain(`${a.url}/pub/${tunnel.id}/echo`, 10_000)
    await delay(1_000)
    assert.equal(await a.cluster.store.get(other.id), null, 'no record written back for the revoked tunnel')
    assert.notEqual((await get(viaA)).status, 200)
  })
})

describe('a private redis-server restarted empty', { skip: !run }, () => {
  const closers: Array<() => Promise<unknown>> = []
  let redis: PrivateRedis | null
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('the tunnel is served again once Redis is back, without re-registration', async (t) => {
    redis = await startPrivateRedis()
    if (redis === null) {
      t.skip('no redis-server binary to run a private Redis (this test restarts it; it never touches the shared one)')
      return
    }
    const r = redis
    closers.push(() => r.kill())
    const prefix = runPrefix('redis-restart')
    const service = await startLocalService()
    closers.push(() => service.close())
    const a = await member(r.url, prefix, 'a', closers)
    const b = await member(r.url, prefix, 'b', closers)
    const tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger(), access: { basic_auth: 'ann:s3cret-pass' } })
    closers.push(() => tunnel.close())
    const viaA = `${a.url}/pub/${tunnel.id}/echo`
    assert.equal((await get(viaA, { authorization: AUTH })).status, 200)

    await r.kill()
    await delay(300)
    await r.restart()
    const took = await servedAgain(viaA, 15_000)
    t.diagnostic(`served across instances again ${took} ms after redis-server restarted empty`)
    assert.equal((await get(viaA)).status, 401, 'with its rules')
    assert.equal(b.relay!.records.restored, 1)
  })
})

describe('requests while a private redis-server restarts empty', { skip: !run }, () => {
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  // The soak's Redis row: with the store and the bus away, a request on an instance that does not hold the
  // agent was answered at once — 503 (store unavailable) while Redis was down, then 404 unknown tunnel until
  // the holder wrote the record back. It now waits, as for a reconnecting agent, up to --hold-timeout.
  it('a request on an instance without the agent waits for Redis and for the record to be back, and is served', async (t) => {
    const redis = await startPrivateRedis()
    if (redis === null) {
      t.skip('no redis-server binary to run a private Redis (this test restarts it; it never touches the shared one)')
      return
    }
    closers.push(() => redis.kill())
    const prefix = runPrefix('redis-restart-held')
    // /late answers after 1 s: a GET relayed when Redis goes is lost with the bus, retried, and waits for Redis.
    const service = await startLocalService((req, res) => {
      if (req.url !== '/late') return false
      const timer = setTimeout(() => res.end('late'), 1_000)
      res.on('close', () => clearTimeout(timer))
      return true
    })
    closers.push(() => service.close())
    const holds = { holdTimeoutMs: 10_000, responseTimeoutMs: 30_000 }
    const a = await member(redis.url, prefix, 'a', closers, undefined, holds)
    const b = await member(redis.url, prefix, 'b', closers, undefined, holds)
    const tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger() })
    closers.push(() => tunnel.close())
    const viaA = `${a.url}/pub/${tunnel.id}/echo`
    assert.equal((await get(viaA)).status, 200)

    const late = get(`${a.url}/pub/${tunnel.id}/late`)
    await delay(300)
    await redis.kill()
    const sent = [late, get(viaA)]
    await delay(400)
    sent.push(get(viaA))
    await delay(400)
    sent.push(get(viaA))
    await redis.restart()
    // Redis is back, empty: the record is not written back yet.
    sent.push(get(viaA))
    const answers = await Promise.all(sent.map((p) => p.catch((error: Error) => ({ status: 0, body: error.message }))))
    assert.deepEqual(
      answers.map((x) => x.status),
      [200, 200, 200, 200, 200],
      `every request sent while Redis restarted was served: ${answers.map((x) => `${x.status} ${x.body.trim().slice(0, 80)}`).join(' | ')}`,
    )
  })
})

describe('a revocation on one instance reaches the agents on the others at once', { skip: !run }, () => {
  const prefix = runPrefix('redis-revoke-notice')
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it("the holder disconnects them on the revoking instance's notice, long before its next record check", async () => {
    const admin = await adminClient(REDIS_URL)
    closers.push(async () => {
      await deleteKeys(admin, prefix)
      admin.destroy()
    })
    const service = await startLocalService()
    closers.push(() => service.close())
    // Record checks every 20 s here: only the REVOKED notice over the bus can disconnect within the 5 s below.
    const slow = { presenceRefreshMs: 20_000, presenceTtlMs: 60_000 }
    const a = await member(REDIS_URL, prefix, 'a', closers, slow)
    const b = await member(REDIS_URL, prefix, 'b', closers, slow)
    const tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger(), reconnectBaseMs: 50, reconnectMaxMs: 200 })
    closers.push(() => tunnel.close())
    const told = new Promise<Error>((resolve) => tunnel.on('error', resolve))
    assert.equal((await get(`${a.url}/pub/${tunnel.id}/echo`)).status, 200)
    const revoked = await request(`${a.url}/tunnels/${tunnel.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${tunnel.state.secret}` } })
    await revoked.body.text()
    assert.equal(revoked.statusCode, 204)
    const deadline = Date.now() + 5_000
    while (b.registry.get(tunnel.id) !== undefined) {
      assert.ok(Date.now() < deadline, 'B did not disconnect the agent within 5 s of the revocation on A (its next record check is 20 s away)')
      await delay(50)
    }
    assert.equal(((await told) as Error & { code?: string }).code, 'ADIT_ERR_TUNNEL_REVOKED')
    // Redis losing everything now cannot bring the tunnel back: no agent of it is connected anywhere.
    await deleteKeys(admin, prefix)
    await b.relay!.records.check()
    assert.equal(await a.cluster.store.get(tunnel.id), null)
  })
})
