import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { createMemoryCluster } from '../../../../src/cluster/memory.js'
import { TunnelGuard } from '../../../../src/server/security/tunnel-guard.js'
import { clientIpFor } from '../../../../src/server/security/client-ip.js'
import { ErrorCode } from '../../../../src/errors.js'

function req(remoteAddress = '127.0.0.1', headers: Record<string, string | string[]> = {}): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage
}

test('the client address is the socket peer unless the proxy is trusted, then the entry it appended', () => {
  assert.equal(clientIpFor(req('::ffff:10.0.0.1'), false), '10.0.0.1')
  assert.equal(clientIpFor(req('10.0.0.1', { 'x-forwarded-for': '6.6.6.6' }), false), '10.0.0.1')
  assert.equal(clientIpFor(req('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' }), true), '203.0.113.9')
  assert.equal(clientIpFor(req('10.0.0.1', { 'x-forwarded-for': ['1.1.1.1', '6.6.6.6,2001:db8::1'] }), true), '2001:db8::1')
  assert.equal(clientIpFor(req('10.0.0.1'), true), '10.0.0.1')
})

test('streams in flight per tunnel are capped (429 + Retry-After) and freed by release', async () => {
  const guard = new TunnelGuard({
    store: undefined,
    trustProxy: false,
    maxStreamsPerTunnel: 2,
    tunnelRate: undefined,
    accessCacheMs: 1000,
    maxTrackedTunnels: 100,
  })
  assert.equal((await guard.admit('t1', req())).ok, true)
  assert.equal((await guard.admit('t1', req())).ok, true)
  const third = await guard.admit('t1', req())
  assert.equal(third.ok, false)
  assert.equal(!third.ok && third.denial.code, ErrorCode.TOO_MANY_STREAMS)
  assert.equal(!third.ok && third.denial.headers?.['retry-after'], '1')
  assert.equal((await guard.admit('t2', req())).ok, true, 'another tunnel is unaffected')
  guard.release('t1')
  assert.equal((await guard.admit('t1', req())).ok, true)
  assert.equal(guard.refused.get(ErrorCode.TOO_MANY_STREAMS), 1)
})

test('per-tunnel request rate: 429 with Retry-After past the burst, per tunnel', async () => {
  let now = 0
  const guard = new TunnelGuard({
    store: undefined,
    trustProxy: false,
    maxStreamsPerTunnel: 0,
    tunnelRate: { ratePerSec: 1, burst: 2 },
    accessCacheMs: 1000,
    maxTrackedTunnels: 100,
    now: () => now,
  })
  assert.equal((await guard.admit('a', req())).ok, true)
  assert.equal((await guard.admit('a', req())).ok, true)
  const refused = await guard.admit('a', req())
  assert.equal(!refused.ok && refused.denial.code, ErrorCode.RATE_LIMITED)
  assert.equal(!refused.ok && refused.denial.headers?.['retry-after'], '1')
  assert.equal((await guard.admit('b', req())).ok, true)
  now = 1000
  assert.equal((await guard.admit('a', req())).ok, true)
})

test('access rules come from the store, are cached, and re-read after invalidate', async () => {
  const cluster = createMemoryCluster({ instanceId: 'i' })
  const store = cluster.store
  await store.put({ id: 't', createdAt: 0, lastSeenAt: 0, secretGeneration: 0, access: { allowIps: ['10.0.0.0/8'] } })
  const guard = new TunnelGuard({ store, trustProxy: true, maxStreamsPerTunnel: 0, tunnelRate: undefined, accessCacheMs: 60_000, maxTrackedTunnels: 100 })
  const denied = await guard.admit('t', req('10.0.0.1', { 'x-forwarded-for': '192.0.2.1' }))
  assert.equal(!denied.ok && denied.denial.code, ErrorCode.IP_NOT_ALLOWED)
  assert.equal((await guard.admit('t', req('192.0.2.1', { 'x-forwarded-for': '10.9.9.9' }))).ok, true)
  await store.put({ id: 't', createdAt: 0, lastSeenAt: 0, secretGeneration: 0 })
  assert.equal((await guard.admit('t', req('1.1.1.1', { 'x-forwarded-for': '192.0.2.1' }))).ok, false, 'still cached')
  guard.invalidate('t')
  assert.equal((await guard.admit('t', req('1.1.1.1', { 'x-forwarded-for': '192.0.2.1' }))).ok, true)
  await cluster.close()
})

test('during a store outage a tunnel keeps its last known rules; one never read is refused', async () => {
  const cluster = createMemoryCluster({ instanceId: 'i' })
  await cluster.store.put({ id: 'known', createdAt: 0, lastSeenAt: 0, secretGeneration: 0, access: { allowIps: ['10.0.0.0/8'] } })
  let down = false
  const store = new Proxy(cluster.store, {
    get(target, name) {
      const value = Reflect.get(target, name) as unknown
      if (name !== 'get' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
      return (id: string) => (down ? Promise.reject(Object.assign(new Error('store down'), { code: 'ADIT_ERR_CLUSTER_UNAVAILABLE' })) : target.get(id))
    },
  })
  let now = 0
  const guard = new TunnelGuard({
    store,
    trustProxy: false,
    maxStreamsPerTunnel: 0,
    tunnelRate: undefined,
    accessCacheMs: 100,
    maxTrackedTunnels: 10,
    now: () => now,
  })
  assert.equal((await guard.admit('known', req('10.0.0.1'))).ok, true)
  down = true
  now = 10_000
  assert.equal((await guard.admit('known', req('10.0.0.1'))).ok, true, 'still served, with its rules')
  const denied = await guard.admit('known', req('192.0.2.1'))
  assert.equal(!denied.ok && denied.denial.code, ErrorCode.IP_NOT_ALLOWED, 'the rules still apply')
  await assert.rejects(guard.admit('never-read', req()), (e: { code?: string }) => e.code === 'ADIT_ERR_CLUSTER_UNAVAILABLE')
  await cluster.close()
})

test('a store that fails makes admit fail (the server answers 5xx), never serve without the rules', async () => {
  const cluster = createMemoryCluster({ instanceId: 'i' })
  await cluster.close()
  const guard = new TunnelGuard({
    store: cluster.store,
    trustProxy: false,
    maxStreamsPerTunnel: 0,
    tunnelRate: undefined,
    accessCacheMs: 1000,
    maxTrackedTunnels: 10,
  })
  await assert.rejects(guard.admit('t', req()), (e: { code?: string }) => e.code === 'ADIT_ERR_CLUSTER_CLOSED')
})
