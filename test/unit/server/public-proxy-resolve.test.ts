/**
 * PublicProxy.resolve and its hold: where a request's stream opens — a live
 * connection, another instance, or (while the agent reconnects) the
 * connection that arrives within the hold — and the errors when none will.
 * Connections carry real sessions over the in-memory transport, so their
 * GOAWAY states are the real ones.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { GoAwayCode, Session, type StreamOpener } from '../../../src/protocol/index.js'
import { createMemoryCluster } from '../../../src/cluster/memory.js'
import type { TunnelStore } from '../../../src/cluster/types.js'
import { ErrorCode } from '../../../src/errors.js'
import type { AgentConnection } from '../../../src/server/agent-connection.js'
import type { Credentials } from '../../../src/server/credentials.js'
import type { Logger } from '../../../src/observability/logger.js'
import { PublicProxy, type PublicProxyOptions } from '../../../src/server/public-proxy.js'
import { TunnelRegistry } from '../../../src/server/tunnel-registry.js'
import { MemoryTransport } from '../protocol/memory-transport.js'

/** What resolve reads of a connection: its tunnel and its (real) session. */
function connection(tunnelId: string): AgentConnection {
  return { tunnelId, session: new Session(new MemoryTransport(), { role: 'server' }) } as unknown as AgentConnection
}

async function setup(options: Partial<PublicProxyOptions> = {}) {
  const cluster = createMemoryCluster({ instanceId: 'a' })
  const store: TunnelStore = cluster.store
  const registry = new TunnelRegistry()
  const proxy = new PublicProxy({
    registry,
    store,
    credentials: {} as Credentials,
    logger: {} as Logger,
    responseTimeoutMs: 1000,
    holdTimeoutMs: 2000,
    holdWindowMs: 60_000,
    trustProxy: false,
    draining: () => false,
    onExchange: () => {},
    ...options,
  })
  const now = Date.now()
  /** A registered tunnel; `seen`: its agent has connected before. */
  const tunnel = async (id: string, seen = true): Promise<void> =>
    store.put({ id, createdAt: now - 10_000, lastSeenAt: seen ? now - 5_000 : now - 10_000, secretGeneration: 0 })
  return { proxy, registry, store, tunnel, close: () => cluster.close() }
}

/** Whether a promise has settled by the time pending I/O callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  void promise.then(() => (done = true))
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

describe('PublicProxy.resolve', () => {
  it('a live connection: at once; an unknown tunnel: 404; a revoked one: 410; one that never connected: 502', async () => {
    const s = await setup()
    const c = connection('live')
    s.registry.add(c)
    assert.deepEqual(await s.proxy.resolve('live'), { opener: c.session })
    assert.deepEqual(await s.proxy.resolve('nobody'), { error: ErrorCode.UNKNOWN_TUNNEL })
    await s.tunnel('gone')
    await s.store.revoke('gone')
    assert.deepEqual(await s.proxy.resolve('gone'), { error: ErrorCode.TUNNEL_REVOKED })
    await s.tunnel('fresh', false)
    assert.deepEqual(await s.proxy.resolve('fresh'), { error: ErrorCode.AGENT_NOT_CONNECTED })
    await s.close()
  })

  it('an agent that just left is held for: the connection that comes back within the hold takes the request', async () => {
    const s = await setup()
    await s.tunnel('t')
    const old = connection('t')
    s.registry.add(old)
    s.registry.remove(old)
    const held = s.proxy.resolve('t')
    assert.equal(await settled(held), false, 'waiting, not refused')
    assert.equal(s.registry.waitingCount, 1)
    const back = connection('t')
    s.registry.add(back)
    assert.deepEqual(await held, { opener: back.session })
    assert.equal(s.registry.waitingCount, 0)
    await s.close()
  })

  it('no agent within the hold: 503 reconnecting with Retry-After, and the waiter is forgotten', async () => {
    const s = await setup({ holdTimeoutMs: 30 })
    await s.tunnel('t')
    const old = connection('t')
    s.registry.add(old)
    s.registry.remove(old)
    assert.deepEqual(await s.proxy.resolve('t'), { error: ErrorCode.AGENT_RECONNECTING, headers: { 'retry-after': '2' } })
    assert.equal(s.registry.waitingCount, 0)
    await s.close()
  })

  it('only a connection going away is left: held until its replacement; a draining one still takes streams', async () => {
    const s = await setup()
    await s.tunnel('t')
    const leaving = connection('t')
    s.registry.add(leaving)
    leaving.session.goAway(GoAwayCode.NORMAL)
    const held = s.proxy.resolve('t')
    assert.equal(await settled(held), false)
    const draining = connection('t')
    ;(draining.session as Session).drain(GoAwayCode.NORMAL)
    s.registry.add(draining)
    assert.deepEqual(await held, { opener: draining.session }, 'asked to move, but still open for streams')
    // A connection not moving is preferred over the draining one.
    const fresh = connection('t')
    s.registry.add(fresh)
    assert.deepEqual(await s.proxy.resolve('t'), { opener: fresh.session })
    await s.close()
  })

  it('in a cluster the hold also looks on other instances, every holdPollMs', async () => {
    const remote = { activeStreams: 0, goingAway: false, closed: false } as unknown as StreamOpener
    let asked = 0
    const s = await setup({
      holdPollMs: 5,
      remoteOpener: async () => (++asked >= 4 ? remote : undefined),
    })
    await s.tunnel('t')
    const old = connection('t')
    s.registry.add(old)
    s.registry.remove(old)
    assert.deepEqual(await s.proxy.resolve('t'), { opener: remote })
    assert.ok(asked >= 4, `asked other instances ${asked} times`)
    await s.close()
  })
})

describe('PublicProxy: waiting for a shared store that has just come back (a Redis restart)', () => {
  /** PublicProxy's private wait, the step before admission and resolve (public-proxy.ts, storeSettled). */
  const waitOf =
    (proxy: PublicProxy) =>
    (id: string): Promise<void> =>
      (proxy as unknown as { storeSettled(exchange: object): Promise<void> }).storeSettled({ summary: { tunnelId: id }, finished: false })

  it('goes on once the record reads back and the bus answers again, not before: a stream opened before its subscriber is back loses its answer', async () => {
    let busUp = false
    const s = await setup({
      credentials: { isSignedId: () => true } as unknown as Credentials,
      holdPollMs: 20,
      storeUnsettled: () => true,
      clusterHealthy: () => busUp,
    })
    await s.tunnel('t')
    const waited = waitOf(s.proxy)('t')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(await settled(waited), false, 'the record is there, the bus is not: still waiting')
    busUp = true
    await waited
    await s.close()
  })

  it('a settled store, or an id without this server\u2019s MAC, does not wait at all', async () => {
    const s = await setup({ credentials: { isSignedId: () => false } as unknown as Credentials, storeUnsettled: () => true, clusterHealthy: () => false })
    assert.equal(await settled(waitOf(s.proxy)('guessed')), true)
    const t = await setup({ credentials: { isSignedId: () => true } as unknown as Credentials, storeUnsettled: () => false })
    assert.equal(await settled(waitOf(t.proxy)('t')), true)
    await s.close()
    await t.close()
  })
})
