/**
 * Fail closed (issue 11): a server that cannot read a tunnel's record never
 * serves it — no record means unknown (404) or revoked (410), a store that
 * does not answer means 503 + Retry-After, never a hold that ends in a 200
 * without the tunnel's rules or its revocation checked.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { createMemoryCluster } from '../../../src/cluster/memory.js'
import { ClusterError, ClusterErrorCode } from '../../../src/cluster/errors.js'
import type { TunnelStore } from '../../../src/cluster/types.js'
import { Credentials } from '../../../src/server/credentials.js'
import { PublicProxy } from '../../../src/server/public-proxy.js'
import { TunnelRegistry } from '../../../src/server/tunnel-registry.js'
import { TunnelGuard } from '../../../src/server/security/tunnel-guard.js'
import { createLogger } from '../../../src/observability/logger.js'
import { ErrorCode } from '../../../src/errors.js'

const credentials = new Credentials([`${'k'.repeat(40)}`])

function proxyOver(store: TunnelStore): PublicProxy {
  return new PublicProxy({
    registry: new TunnelRegistry(),
    store,
    credentials,
    logger: createLogger({ level: 'silent' }),
    responseTimeoutMs: 1000,
    holdTimeoutMs: 3000,
    holdWindowMs: 60_000,
    trustProxy: false,
    draining: () => false,
    onExchange: () => {},
  })
}

function downStore(): TunnelStore {
  const fail = (): Promise<never> => Promise.reject(new ClusterError(ClusterErrorCode.UNAVAILABLE, 'store down'))
  return { get: fail, put: fail, create: fail, touch: fail, revoke: fail, isRevoked: fail, idleSince: fail, countByOwner: fail }
}

function req(): IncomingMessage {
  return { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage
}

test('a real (signed) id with no record is an unknown tunnel at once: no hold, never served without its rules', async (t) => {
  const cluster = createMemoryCluster({ instanceId: 'a' })
  t.after(() => cluster.close())
  const started = Date.now()
  const resolution = await proxyOver(cluster.store).resolve(credentials.newTunnelId())
  assert.deepEqual(resolution, { error: ErrorCode.UNKNOWN_TUNNEL })
  assert.ok(Date.now() - started < 1000, 'no hold for a tunnel the store does not know')
})

test('a store that does not answer: the lookup fails (503 + Retry-After upstream), it is never taken for "not revoked"', async () => {
  const started = Date.now()
  await assert.rejects(proxyOver(downStore()).resolve(credentials.newTunnelId()), (e: { code?: string }) => e.code === ClusterErrorCode.UNAVAILABLE)
  assert.ok(Date.now() - started < 1000, 'no hold on an outage')
})

test('the guard refuses a tunnel without a record: 410 when revoked, 404 otherwise; an outage rejects', async (t) => {
  const cluster = createMemoryCluster({ instanceId: 'a' })
  t.after(() => cluster.close())
  const options = { trustProxy: false, maxStreamsPerTunnel: 0, tunnelRate: undefined, accessCacheMs: 60_000, maxTrackedTunnels: 100 }
  const guard = new TunnelGuard({ store: cluster.store, ...options })
  const id = credentials.newTunnelId()
  const unknown = await guard.admit(id, req())
  assert.equal(unknown.ok === false && unknown.denial.code, ErrorCode.UNKNOWN_TUNNEL)
  await cluster.store.revoke(id)
  const revoked = await guard.admit(id, req())
  assert.equal(revoked.ok === false && revoked.denial.code, ErrorCode.TUNNEL_REVOKED)
  // A record written after a miss is seen at once (misses are not cached).
  const other = credentials.newTunnelId()
  assert.equal((await guard.admit(other, req())).ok, false)
  await cluster.store.put({ id: other, createdAt: 0, lastSeenAt: 0, secretGeneration: 0 })
  assert.equal((await guard.admit(other, req())).ok, true)
  await assert.rejects(new TunnelGuard({ store: downStore(), ...options }).admit(id, req()))
})
