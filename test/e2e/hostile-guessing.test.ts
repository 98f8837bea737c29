import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { Agent, request } from 'undici'
import { startAgentProcess, startServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'

/**
 * Guessing is not free (issue 11, finding 5): wrong admin tokens and wrong
 * basic-auth passwords are throttled per client address, and scrypt work is
 * bounded so a flood of wrong passwords cannot slow anyone else. Clients come
 * from distinct loopback addresses (127.0.0.x) so the server sees distinct
 * client addresses. The assertions are on counts; the latencies are reported.
 */

interface Counted {
  statuses: Map<number, number>
  errorCodes: Map<string, number>
  retryAfterMissing: number
  ms: number
}

/** One keep-alive pool per client address, closed by the caller's cleanup. */
function clientFrom(localAddress: string, connections = 8): Agent {
  return new Agent({ localAddress, connections, keepAliveTimeout: 10_000 })
}

/**
 * Sends `total` requests, `concurrency` at a time, from the given dispatchers
 * (round-robin), bounded by `maxMs`; counts statuses and error codes.
 */
async function flood(
  total: number,
  concurrency: number,
  maxMs: number,
  make: (i: number) => { url: string; method?: 'GET' | 'DELETE'; headers: Record<string, string>; dispatcher: Agent },
): Promise<Counted> {
  const counted: Counted = { statuses: new Map(), errorCodes: new Map(), retryAfterMissing: 0, ms: 0 }
  const started = Date.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total && Date.now() - started < maxMs) {
      const i = next++
      const { url, method, headers, dispatcher } = make(i)
      let res
      try {
        res = await request(url, { method: method ?? 'GET', headers, dispatcher, headersTimeout: 20_000, bodyTimeout: 20_000 })
        await res.body.dump()
      } catch {
        counted.statuses.set(0, (counted.statuses.get(0) ?? 0) + 1)
        continue
      }
      counted.statuses.set(res.statusCode, (counted.statuses.get(res.statusCode) ?? 0) + 1)
      const code = res.headers['x-adit-error']
      if (typeof code === 'string') counted.errorCodes.set(code, (counted.errorCodes.get(code) ?? 0) + 1)
      if ((res.statusCode === 429 || res.statusCode === 503) && res.headers['retry-after'] === undefined) counted.retryAfterMissing++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  counted.ms = Date.now() - started
  return counted
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

async function timedGet(url: string, headers: Record<string, string>, dispatcher: Agent): Promise<{ status: number; ms: number }> {
  const started = process.hrtime.bigint()
  const res = await request(url, { headers, dispatcher, headersTimeout: 20_000, bodyTimeout: 20_000 })
  await res.body.dump()
  return { status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!
}

const fmt = (counted: Counted): string =>
  `${[...counted.statuses].map(([s, n]) => `${n}×${s}`).join(', ')} in ${counted.ms} ms (${[...counted.errorCodes].map(([c, n]) => `${n} ${c}`).join(', ')})`

describe('guessing is throttled: admin token and basic auth', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  it('3,000 wrong admin tokens from one address: a handful of 401, then 429 ADIT_ERR_AUTH_THROTTLED with Retry-After; another address is not affected', async (t) => {
    const adminToken = randomBytes(24).toString('base64url')
    const server = jobs.add(await startServerProcess({ env: { ADIT_ADMIN_TOKEN: adminToken } }))
    const attacker = jobs.add(clientFrom('127.0.0.1', 32))
    const counted = await flood(3000, 32, 60_000, (i) => ({
      url: `${server.url}/dashboard/api`,
      headers: { authorization: `Bearer guess-${i}-${adminToken.slice(4)}` },
      dispatcher: attacker,
    }))
    t.diagnostic(`admin-token guesses: ${fmt(counted)}`)
    const total = [...counted.statuses.values()].reduce((a, b) => a + b, 0)
    assert.equal(total, 3000, 'every guess was answered within the time bound')
    // 5 free failures, then one check per back-off: 1 s, 2 s, 4 s, …
    const allowed = 5 + Math.ceil(Math.log2(counted.ms / 1000 + 2))
    assert.ok(
      (counted.statuses.get(401) ?? 0) <= allowed,
      `at most ${allowed} guesses were checked in ${counted.ms} ms, got ${counted.statuses.get(401) ?? 0} × 401`,
    )
    assert.equal(counted.statuses.get(429), 3000 - (counted.statuses.get(401) ?? 0), 'every other guess was refused unchecked')
    assert.equal(counted.errorCodes.get('ADIT_ERR_AUTH_THROTTLED'), counted.statuses.get(429))
    assert.equal(counted.retryAfterMissing, 0, 'every 429 says when to retry')

    // The same address is refused even with the right token (the back-off is per address), on every admin route.
    const right = await request(`${server.url}/dashboard/api`, { headers: { authorization: `Bearer ${adminToken}` }, dispatcher: attacker })
    await right.body.dump()
    assert.equal(right.statusCode, 429)
    const delTunnel = await request(`${server.url}/tunnels/abcdef`, { method: 'DELETE', headers: { authorization: 'Bearer nope' }, dispatcher: attacker })
    const delBody = (await delTunnel.body.json()) as { error: string }
    assert.equal(delTunnel.statusCode, 429, 'DELETE /tunnels/{id} shares the admin-token back-off')
    assert.equal(delBody.error, 'ADIT_ERR_AUTH_THROTTLED')
    assert.ok(Number(delTunnel.headers['retry-after']) >= 1)

    // Another client address signs in at once.
    const other = jobs.add(clientFrom('127.0.0.2'))
    const fine = await request(`${server.url}/dashboard/api`, { headers: { authorization: `Bearer ${adminToken}` }, dispatcher: other })
    await fine.body.dump()
    assert.equal(fine.statusCode, 200, 'a client at another address is not throttled')
  })

  it('wrong metrics tokens share the back-off: 300 guesses at /metrics from one address, a handful checked', async (t) => {
    const metricsToken = randomBytes(24).toString('base64url')
    const server = jobs.add(await startServerProcess({ env: { ADIT_METRICS_TOKEN: metricsToken } }))
    const attacker = jobs.add(clientFrom('127.0.0.1', 16))
    const counted = await flood(300, 16, 60_000, (i) => ({ url: `${server.url}/metrics`, headers: { authorization: `Bearer m-${i}` }, dispatcher: attacker }))
    t.diagnostic(`metrics-token guesses: ${fmt(counted)}`)
    const allowed = 5 + Math.ceil(Math.log2(counted.ms / 1000 + 2))
    assert.ok((counted.statuses.get(401) ?? 0) <= allowed, `at most ${allowed} checked, got ${counted.statuses.get(401) ?? 0}`)
    assert.equal(counted.errorCodes.get('ADIT_ERR_AUTH_THROTTLED'), 300 - (counted.statuses.get(401) ?? 0))
    const scraper = jobs.add(clientFrom('127.0.0.2', 1))
    const scrape = await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` }, dispatcher: scraper })
    await scrape.body.dump()
    assert.equal(scrape.statusCode, 200, 'the scraper at its own address is not affected')
  })

  it('400 wrong basic-auth passwords: few reach scrypt; a signed-in visitor and another protected tunnel are served during the flood', async (t) => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess())
    const dir = jobs.add(tempDir())
    const passwordA = randomBytes(12).toString('base64url')
    const passwordB = randomBytes(12).toString('base64url')
    const a = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('a.json'), args: ['--basic-auth', `alice:${passwordA}`] }))
    const b = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('b.json'), args: ['--basic-auth', `bob:${passwordB}`] }))
    const c = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('c.json'), args: ['--basic-auth', 'carol:baseline-pw'] }))
    const attacker = jobs.add(clientFrom('127.0.0.1', 50))
    const visitor = jobs.add(clientFrom('127.0.0.2', 1))
    const newcomer = jobs.add(clientFrom('127.0.0.3', 1))
    const baseliner = jobs.add(clientFrom('127.0.0.5', 1))

    // The visitor signs in before the flood; a first visit to a third tunnel, without a flood, is the baseline.
    const signedIn = await timedGet(a.publicUrl, { authorization: basic('alice', passwordA) }, visitor)
    assert.equal(signedIn.status, 200)
    const baselineMs: number[] = []
    for (let i = 0; i < 5; i++) baselineMs.push((await timedGet(a.publicUrl, { authorization: basic('alice', passwordA) }, visitor)).ms)
    const baseline = await timedGet(c.publicUrl, { authorization: basic('carol', 'baseline-pw') }, baseliner)
    assert.equal(baseline.status, 200)

    const visitorMs: number[] = []
    let visitorFailures = 0
    let flooding = true
    const visiting = (async () => {
      while (flooding) {
        const r = await timedGet(a.publicUrl, { authorization: basic('alice', passwordA) }, visitor)
        if (r.status === 200) visitorMs.push(r.ms)
        else visitorFailures++
      }
    })()
    const attack = flood(400, 50, 60_000, (i) => ({
      url: a.publicUrl,
      headers: { authorization: basic('alice', `wrong-${i}`) },
      dispatcher: attacker,
    }))
    // The other tunnel's first visit, while the flood is on.
    await new Promise((r) => setTimeout(r, 50))
    const firstVisit = await timedGet(b.publicUrl, { authorization: basic('bob', passwordB) }, newcomer)
    const counted = await attack
    flooding = false
    await visiting

    const hashedWrong = counted.statuses.get(401) ?? 0
    t.diagnostic(`wrong passwords: ${fmt(counted)}`)
    t.diagnostic(
      `signed-in visitor during the flood: ${visitorMs.length} OK, ${visitorFailures} failed, p50 ${percentile(visitorMs, 0.5).toFixed(1)} ms, max ${Math.max(...visitorMs).toFixed(1)} ms`,
    )
    t.diagnostic(`other tunnel's first visit during the flood: ${firstVisit.status} in ${firstVisit.ms.toFixed(1)} ms`)
    t.diagnostic(
      `without a flood: signed-in visitor p50 ${percentile(baselineMs, 0.5).toFixed(1)} ms, a first visit ${baseline.ms.toFixed(1)} ms (the flood's client runs in this process too)`,
    )
    assert.equal(
      [...counted.statuses.values()].reduce((x, y) => x + y, 0),
      400,
      'every wrong password was answered',
    )
    const allowed = 5 + Math.ceil(Math.log2(counted.ms / 1000 + 2))
    assert.ok(hashedWrong <= allowed, `at most ${allowed} wrong passwords from one address reach scrypt in ${counted.ms} ms, got ${hashedWrong}`)
    assert.equal(counted.errorCodes.get('ADIT_ERR_AUTH_THROTTLED'), 400 - hashedWrong, 'the rest are 429 ADIT_ERR_AUTH_THROTTLED')
    assert.equal(counted.retryAfterMissing, 0)
    assert.equal(visitorFailures, 0, 'the signed-in visitor was never refused')
    assert.ok(visitorMs.length > 0)
    assert.equal(firstVisit.status, 200, "the other tunnel's first visitor got in")
  })

  it('wrong passwords from 50 addresses at once: scrypt work stays bounded (503 ADIT_ERR_AUTH_BUSY), another tunnel still lets its first visitor in', async (t) => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess())
    const dir = jobs.add(tempDir())
    const passwordB = randomBytes(12).toString('base64url')
    const a = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('a.json'), args: ['--basic-auth', 'alice:right-password'] }))
    const b = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('b.json'), args: ['--basic-auth', `bob:${passwordB}`] }))
    const attackers = Array.from({ length: 50 }, (_, i) => jobs.add(clientFrom(`127.0.1.${i + 10}`, 2)))
    const newcomer = jobs.add(clientFrom('127.0.0.4', 1))
    const attack = flood(400, 100, 60_000, (i) => ({
      url: a.publicUrl,
      headers: { authorization: basic('alice', `wrong-${i}`) },
      dispatcher: attackers[i % attackers.length]!,
    }))
    await new Promise((r) => setTimeout(r, 50))
    const firstVisit = await timedGet(b.publicUrl, { authorization: basic('bob', passwordB) }, newcomer)
    const counted = await attack
    t.diagnostic(`wrong passwords from 50 addresses: ${fmt(counted)}`)
    t.diagnostic(`other tunnel's first visit during the flood: ${firstVisit.status} in ${firstVisit.ms.toFixed(1)} ms`)
    assert.equal(
      [...counted.statuses.values()].reduce((x, y) => x + y, 0),
      400,
    )
    assert.ok((counted.statuses.get(503) ?? 0) > 0, 'the hash queue filled and said so instead of queueing without bound')
    assert.equal(counted.errorCodes.get('ADIT_ERR_AUTH_BUSY'), counted.statuses.get(503))
    assert.equal(counted.retryAfterMissing, 0)
    const perAddress = 5 + Math.ceil(Math.log2(counted.ms / 1000 + 2))
    assert.ok((counted.statuses.get(401) ?? 0) <= 50 * perAddress, 'no address got more than its free checks and one per back-off')
    assert.equal(firstVisit.status, 200, "the other tunnel's first visitor got in: its hash is queued apart from the flood's")
  })
})
