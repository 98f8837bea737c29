import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { request } from 'undici'
import { adminCookieValue } from '../../../src/server/dashboard/admin-auth.js'
import { createDashboard, type Dashboard } from '../../../src/server/dashboard/dashboard.js'
import { RequestRates } from '../../../src/server/dashboard/request-rate.js'
import type { DashboardConnection, DashboardSnapshot } from '../../../src/server/dashboard/snapshot.js'
import { FailureThrottle } from '../../../src/server/security/failure-throttle.js'
import { RecentRequests } from '../../../src/server/dashboard/recent-requests.js'

const TOKEN = 'admin-token-0123456789'

test('request rates: per-second ring, 10 s mean, old seconds age out, memory capped', () => {
  const rates = new RequestRates({ windowSeconds: 20, maxTunnels: 2 })
  const t0 = 1_000_000_000_000 // on a second boundary
  for (let s = 0; s < 10; s++) for (let i = 0; i < s + 1; i++) rates.record('a', t0 + s * 1000 + i, i === 0 && s === 9 ? 502 : 200)
  const now = t0 + 10_000 + 500 // in second 10: seconds 0…9 are complete
  const rate = rates.rate('a', now)
  assert.equal(rate.perSecond.length, 20)
  assert.deepEqual(rate.perSecond.slice(-11), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0])
  assert.equal(rate.ratePerSecond, 5.5)
  assert.equal(rate.total, 55)
  assert.equal(rate.errors, 1)
  // 25 s later everything left the window, but the total stays.
  const later = rates.rate('a', now + 25_000)
  assert.deepEqual(later.perSecond, new Array(20).fill(0))
  assert.equal(later.total, 55)
  // A request after a long pause does not resurrect old counts in reused slots.
  rates.record('a', now + 25_000)
  assert.equal(
    rates.rate('a', now + 25_000).perSecond.reduce((x, y) => x + y, 0),
    1,
  )
  // Capped at two tunnels: the least recently active is forgotten.
  rates.record('b', now)
  rates.record('c', now + 1)
  assert.equal(rates.trackedTunnels, 2)
  assert.equal(rates.rate('a', now + 25_000).total, 0, 'a was active before b and c')
  assert.equal(rates.rate('b', now).total, 1)
  assert.equal(rates.rate('c', now).total, 1)
  assert.throws(() => new RequestRates({ windowSeconds: 5 }), RangeError)
})

function fakeConnection(tunnelId: string, number: number, activeStreams = 0): DashboardConnection {
  return { tunnelId, number, protocol: 'adit.v2', connectedAt: 1_700_000_000_000 + number, session: { activeStreams, goingAway: false } }
}

async function serve(t: TestContext, dashboard: Dashboard): Promise<string> {
  const server = createServer((req, res) => {
    if (!dashboard.handleDashboard(req, res)) {
      res.writeHead(404)
      res.end('not the dashboard')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

test('dashboard off without an admin token: its paths fall through to the server (404)', async (t) => {
  const base = await serve(t, createDashboard({ adminToken: undefined, registry: { connections: () => [] } }))
  for (const path of ['/dashboard', '/dashboard/api', '/dashboard?token=x']) {
    const res = await request(`${base}${path}`)
    assert.equal(res.statusCode, 404, path)
    assert.equal(await res.body.text(), 'not the dashboard')
  }
  assert.throws(
    () => createDashboard({ adminToken: 'short', registry: { connections: () => [] } }),
    (error: Error & { code?: string }) => error.code === 'ADIT_ERR_CONFIG' && /adminToken/.test(error.message),
  )
})

test('dashboard auth: bearer, ?token= → HttpOnly SameSite=Strict cookie and a redirect without it, 401 otherwise', async (t) => {
  const base = await serve(t, createDashboard({ adminToken: TOKEN, registry: { connections: () => [] } }))
  for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { cookie: 'adit_admin=forged' }]) {
    const res = await request(`${base}/dashboard/api`, { headers })
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="adit dashboard"')
    await res.body.dump()
  }
  const wrong = await request(`${base}/dashboard?token=nope`)
  assert.equal(wrong.statusCode, 401)
  await wrong.body.dump()

  const bearer = await request(`${base}/dashboard/api`, { headers: { authorization: `Bearer ${TOKEN}` } })
  assert.equal(bearer.statusCode, 200)
  assert.equal(((await bearer.body.json()) as DashboardSnapshot).totals.tunnels, 0)

  const link = await request(`${base}/dashboard?token=${TOKEN}&view=all`)
  assert.equal(link.statusCode, 303)
  assert.equal(link.headers.location, '/dashboard?view=all', 'the token leaves the URL, the rest stays')
  const cookie = String(link.headers['set-cookie'])
  assert.match(cookie, /HttpOnly/)
  assert.match(cookie, /SameSite=Strict/)
  assert.match(cookie, /Path=\/dashboard/)
  assert.equal(cookie.includes(TOKEN), false, 'the cookie carries an HMAC, not the token')
  await link.body.dump()
  const pair = cookie.split(';')[0]!
  assert.equal(pair, `adit_admin=${adminCookieValue(TOKEN)}`)
  const page = await request(`${base}/dashboard`, { headers: { cookie: pair } })
  assert.equal(page.statusCode, 200)
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/)
  assert.match(await page.body.text(), /<title>adit dashboard<\/title>/)
  const post = await request(`${base}/dashboard/api`, { method: 'POST', headers: { cookie: pair } })
  assert.equal(post.statusCode, 405)
  await post.body.dump()
})

test('dashboard API: tunnels, their connections and request rates', async (t) => {
  let now = 1_800_000_000_000
  const connections = [fakeConnection('web', 3, 2), fakeConnection('web', 1), fakeConnection('api', 2)]
  const dashboard = createDashboard({ adminToken: TOKEN, registry: { connections: () => connections }, now: () => now })
  const base = await serve(t, dashboard)
  for (let s = 0; s < 10; s++) {
    for (let i = 0; i < 3; i++) dashboard.recordExchange({ tunnelId: 'web', status: 200 })
    dashboard.recordExchange({ tunnelId: 'gone', status: 502 })
    now += 1000
  }
  const res = await request(`${base}/dashboard/api`, { headers: { authorization: `Bearer ${TOKEN}` } })
  const snapshot = (await res.body.json()) as DashboardSnapshot
  assert.deepEqual(
    snapshot.tunnels.map((x) => [x.id, x.connections.map((c) => c.number), x.activeStreams, x.ratePerSecond, x.total, x.errors]),
    [
      ['web', [1, 3], 2, 3, 30, 0],
      ['gone', [], 0, 1, 10, 10],
      ['api', [2], 0, 0, 0, 0],
    ],
  )
  assert.deepEqual(snapshot.totals, { tunnels: 2, connections: 3, activeStreams: 2, ratePerSecond: 4 })
  assert.equal(snapshot.tunnels[0]?.connections[0]?.protocol, 'adit.v2')
  assert.equal(snapshot.tunnels[0]?.connections[0]?.connectedAt, new Date(1_700_000_000_001).toISOString())
})

test('wrong admin tokens back off per address (429 + Retry-After); a stale cookie or no token is not a guess', async (t) => {
  const throttle = new FailureThrottle({ freeFailures: 2 })
  const dashboard = createDashboard({ adminToken: TOKEN, registry: { connections: () => [] }, throttle, clientKey: () => 'client' })
  const base = await serve(t, dashboard)
  const get = async (headers: Record<string, string>) => {
    const res = await request(`${base}/dashboard/api`, { headers })
    await res.body.dump()
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], code: res.headers['x-adit-error'] }
  }
  for (let i = 0; i < 10; i++) assert.equal((await get({ cookie: 'adit_admin=stale-from-an-old-token' })).status, 401)
  for (let i = 0; i < 10; i++) assert.equal((await get({})).status, 401)
  assert.equal((await get({ authorization: 'Bearer wrong-1' })).status, 401)
  assert.equal((await get({ authorization: 'Bearer wrong-2' })).status, 401)
  const throttled = await get({ authorization: `Bearer ${TOKEN}` })
  assert.deepEqual(throttled, { status: 429, retryAfter: '1', code: 'ADIT_ERR_AUTH_THROTTLED' })
})

test('recent requests: a fixed ring, newest first, query secrets redacted, long paths cut', () => {
  const recent = new RecentRequests(3)
  assert.deepEqual(recent.list(), [])
  for (let i = 1; i <= 5; i++)
    recent.record({ tunnelId: 't', status: 200, method: 'GET', path: `/${i}`, requestId: `r${i}`, durationMs: i + 0.4 }, 1_700_000_000_000 + i)
  assert.deepEqual(
    recent.list().map((r) => [r.path, r.requestId, r.durationMs, r.at]),
    [
      ['/5', 'r5', 5, new Date(1_700_000_000_005).toISOString()],
      ['/4', 'r4', 4, new Date(1_700_000_000_004).toISOString()],
      ['/3', 'r3', 3, new Date(1_700_000_000_003).toISOString()],
    ],
  )
  recent.record({ tunnelId: 't', status: 429, path: '/x?token=hunter2&page=1', answeredBy: 'visitor rate limit' }, 0)
  const top = recent.list()[0]!
  assert.doesNotMatch(top.path, /hunter2/)
  assert.match(top.path, /page=1/)
  assert.equal(top.answeredBy, 'visitor rate limit')
  assert.equal(top.route, undefined)
  recent.record({ tunnelId: 't', status: 200, path: `/${'a'.repeat(500)}` }, 0)
  assert.equal(recent.list()[0]!.path.length, 201)
  assert.deepEqual(new RecentRequests(0).list(), [])
})
