import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { createMemoryCluster } from '../../../../src/cluster/memory.js'
import { Credentials } from '../../../../src/server/credentials.js'
import { handleTunnelAdmin, routeTunnelAdmin } from '../../../../src/server/security/tunnel-admin.js'
import { secretBinding, verifyTunnelSecret } from '../../../../src/server/security/tunnel-secret.js'
import { IdleSweeper, idleSweepInterval } from '../../../../src/server/security/idle-sweeper.js'
import { resolveSecurityOptions } from '../../../../src/server/security/security-options.js'
import { ErrorCode } from '../../../../src/errors.js'

test('routeTunnelAdmin recognises only /tunnels/{id} and /tunnels/{id}/rotate', () => {
  assert.deepEqual(routeTunnelAdmin('/tunnels/abc'), { id: 'abc', action: 'delete' })
  assert.deepEqual(routeTunnelAdmin('/tunnels/abc/rotate'), { id: 'abc', action: 'rotate' })
  for (const path of ['/tunnels/', '/tunnels/ABC', '/tunnels/a/b', '/tunnels/a/rotate/x', '/tunnels/../x']) assert.equal(routeTunnelAdmin(path), null, path)
})

test('verifyTunnelSecret: the previous generation only during its grace period', () => {
  const credentials = new Credentials([randomBytes(32).toString('hex')])
  const id = credentials.newTunnelId()
  const s0 = credentials.secretFor(id, 0)
  const s1 = credentials.secretFor(id, 1)
  const record = { id, createdAt: 0, lastSeenAt: 0, secretGeneration: 1, previousGenerationUntil: 1000 }
  assert.equal(verifyTunnelSecret(credentials, id, s1, record, 0), true)
  assert.equal(verifyTunnelSecret(credentials, id, s0, record, 999), true)
  assert.equal(verifyTunnelSecret(credentials, id, s0, record, 1000), false)
  assert.equal(verifyTunnelSecret(credentials, id, s0, null, 0), false, 'no record, no tunnel: its generation and revocation are unknown')
  assert.equal(verifyTunnelSecret(credentials, id, s1, null, 0), false)
})

test('a secret is bound to its record: nonce, name and access rules; a record that lost its rules refuses it', () => {
  const credentials = new Credentials([randomBytes(32).toString('hex')])
  const id = credentials.newTunnelId()
  const record = { id, createdAt: 0, lastSeenAt: 0, secretGeneration: 0, nonce: 'n1', access: { allowIps: ['10.0.0.0/8'] } }
  const secret = credentials.secretFor(id, 0, secretBinding(record))
  assert.equal(verifyTunnelSecret(credentials, id, secret, record, 0), true)
  assert.equal(verifyTunnelSecret(credentials, id, secret, { ...record, access: undefined }, 0), false, 'rules lost')
  assert.equal(verifyTunnelSecret(credentials, id, secret, { ...record, access: { allowIps: ['0.0.0.0/0'] } }, 0), false, 'rules weakened')
  assert.equal(verifyTunnelSecret(credentials, id, secret, { ...record, nonce: 'n2' }, 0), false, 'another registration of the same id')
  assert.equal(verifyTunnelSecret(credentials, id, credentials.secretFor(id, 0), record, 0), false, 'the unbound secret of the same id')
  // Key order does not change the digest.
  const reordered = { ...record, access: JSON.parse('{"allowIps":["10.0.0.0/8"]}') as { allowIps: string[] } }
  assert.equal(verifyTunnelSecret(credentials, id, secret, reordered, 0), true)
  assert.equal(secretBinding({ nonce: undefined }), undefined, 'records from before bindings keep HMAC(id, generation)')
})

test('rotate and delete over HTTP: status codes and stable error codes', async (t) => {
  const cluster = createMemoryCluster({ instanceId: 'i' })
  const credentials = new Credentials([randomBytes(32).toString('hex')])
  const adminToken = 'admin-token-0123456789'
  const revoked: string[] = []
  const ctx = {
    credentials,
    store: cluster.store,
    adminTokenHash: createHash('sha256').update(adminToken).digest(),
    rotationGraceMs: 60_000,
    revoke: async (id: string) => {
      revoked.push(id)
      await cluster.store.revoke(id)
    },
  }
  const server: Server = createServer((req, res) => {
    const route = routeTunnelAdmin(req.url ?? '')
    if (route === null) return res.writeHead(404).end()
    handleTunnelAdmin(req, res, route, ctx).catch(() => res.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await cluster.close()
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const call = async (method: 'POST' | 'DELETE', path: string, token?: string) => {
    const res = await request(`${base}${path}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    const text = await res.body.text()
    return { status: res.statusCode, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
  }
  const id = credentials.newTunnelId()
  await cluster.store.put({ id, createdAt: 0, lastSeenAt: 0, secretGeneration: 0 })
  const s0 = credentials.secretFor(id)

  assert.equal((await call('POST', `/tunnels/${id}/rotate`)).body.error, ErrorCode.UNAUTHORIZED)
  const wrong = await call('POST', `/tunnels/${id}/rotate`, `${s0}x`)
  assert.deepEqual([wrong.status, wrong.body.error], [401, ErrorCode.UNAUTHORIZED])
  assert.equal((await call('POST', `/tunnels/${id}/rotate`, adminToken)).status, 401, 'the admin token deletes, it does not rotate')
  const unknown = await call('POST', '/tunnels/aaaaaaaaaaaaaaaa/rotate', s0)
  assert.deepEqual([unknown.status, unknown.body.error], [404, ErrorCode.UNKNOWN_TUNNEL])

  const rotated = await call('POST', `/tunnels/${id}/rotate`, s0)
  assert.equal(rotated.status, 200)
  assert.equal(rotated.body.generation, 1)
  assert.equal(rotated.body.secret, credentials.secretFor(id, 1))
  const record = await cluster.store.get(id)
  assert.equal(record?.secretGeneration, 1)
  assert.ok((record?.previousGenerationUntil ?? 0) > Date.now())
  assert.ok(!JSON.stringify(record).includes(String(rotated.body.secret)), 'the store never holds a secret')

  const other = credentials.newTunnelId()
  const unrecorded = await call('DELETE', `/tunnels/${other}`, credentials.secretFor(other))
  assert.deepEqual(
    [unrecorded.status, unrecorded.body.error],
    [404, ErrorCode.UNKNOWN_TUNNEL],
    'a signed id without a record is no tunnel, whatever secret comes with it',
  )
  await cluster.store.put({ id: other, createdAt: 0, lastSeenAt: 0, secretGeneration: 0 })
  assert.equal((await call('DELETE', `/tunnels/${other}`, s0)).status, 401, "one tunnel's secret cannot delete another")
  assert.equal((await call('DELETE', `/tunnels/${id}`, String(rotated.body.secret))).status, 204)
  assert.deepEqual(revoked, [id])
  const gone = await call('DELETE', `/tunnels/${id}`, String(rotated.body.secret))
  assert.deepEqual([gone.status, gone.body.error], [410, ErrorCode.TUNNEL_REVOKED])
  assert.equal((await call('DELETE', `/tunnels/${other}`, adminToken)).status, 204, 'the admin token deletes any tunnel')
  assert.equal((await request(`${base}/tunnels/${other}/rotate`, { method: 'GET' })).statusCode, 405)
})

test('idle sweeper: expires tunnels idle past the TTL, never those with a live agent here', async () => {
  const cluster = createMemoryCluster({ instanceId: 'i' })
  const store = cluster.store
  let now = 10_000
  for (const id of ['old', 'live', 'fresh']) await store.put({ id, createdAt: 0, lastSeenAt: id === 'fresh' ? 9_500 : 1_000, secretGeneration: 0 })
  const expired: string[] = []
  const sweeper = new IdleSweeper({
    store,
    ttlMs: 5_000,
    intervalMs: 60_000,
    liveTunnelIds: () => ['live'],
    expire: async (id) => {
      expired.push(id)
      await store.revoke(id)
    },
    now: () => now,
  })
  assert.equal(await sweeper.sweep(), 1)
  assert.deepEqual(expired, ['old'])
  assert.equal(await store.isRevoked('old'), true)
  assert.equal((await store.get('live'))?.lastSeenAt, 10_000, 'a live tunnel is marked seen')
  now = 15_000
  assert.equal(await sweeper.sweep(), 1)
  assert.deepEqual(expired, ['old', 'fresh'])
  sweeper.start()
  sweeper.stop()
  await cluster.close()
})

test('idle sweeps run at a quarter of the TTL (10 ms to 1 min), and an explicit interval above half the TTL is refused', () => {
  // The instance holding an agent marks its tunnel seen once per sweep; another instance expires it after the TTL.
  assert.equal(idleSweepInterval(500), 125, 'a 500 ms TTL swept every second let another instance expire a connected tunnel')
  assert.equal(idleSweepInterval(1000), 250)
  assert.equal(idleSweepInterval(20), 10)
  assert.equal(idleSweepInterval(7 * 24 * 3_600_000), 60_000)
  assert.throws(() => resolveSecurityOptions({ idleTtlMs: 1000, idleSweepMs: 600 }), /at most half of idleTtlMs/)
  assert.equal(resolveSecurityOptions({ idleTtlMs: 1000, idleSweepMs: 500 }).idleSweepMs, 500)
  assert.equal(resolveSecurityOptions({ idleTtlMs: 0, idleSweepMs: 60_000 }).idleSweepMs, 60_000, 'no expiry, no constraint')
})
