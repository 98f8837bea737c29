/**
 * Per-visitor rate limits: asked for by the agent (--rate-limit, a route's
 * rate_limit), enforced by the server before a stream is opened, one token
 * bucket per visitor — and with REDIS_URL one bucket across instances.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { adminClient, clusterEnv, deleteKeys, redisOrSkip, REDIS_URL, runPrefix, startMember, startPrivateRedis } from '../harness/cluster.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  const res = await request(url, { headers })
  return { status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined, body: await res.body.text() }
}

describe('per-visitor rate limits, enforced by the server', () => {
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess
  const dir = tempDir()

  before(async () => {
    service = await startLocalService()
    // Visitors are told apart by X-Forwarded-For, which the server takes from a trusted proxy.
    server = await startServerProcess({ args: ['--trust-proxy', 'true'] })
    const config = dir.file('agent.yaml')
    writeFileSync(config, ['routes:', '  - path: /api', `    local: ${service.url}`, '    rate_limit: 1/m,burst=2,by=header:X-Api-Key', ''].join('\n'))
    agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file('state.json'), args: ['--config', config, '--rate-limit', '1/m,burst=3'] })
  })
  after(async () => {
    await agent?.stop()
    await server?.stop()
    await service?.close()
    dir.remove()
  })

  it('the tunnel limit by client address: one visitor gets 429 + Retry-After, the other is served', async () => {
    const base = `${server.url}/pub/${agent.id}`
    const a = { 'x-forwarded-for': '198.51.100.1' }
    const b = { 'x-forwarded-for': '198.51.100.2' }
    for (let i = 0; i < 3; i++) assert.equal((await get(`${base}/page`, a)).status, 200, `request ${i + 1} of visitor A`)
    const served = service.requests.length
    const limited = await get(`${base}/page`, a)
    assert.equal(limited.status, 429)
    assert.ok(Number(limited.retryAfter) >= 1, `Retry-After: ${limited.retryAfter}`)
    assert.match(limited.body, /too many requests/)
    assert.equal(service.requests.length, served, 'a limited request never reaches the agent')
    assert.equal((await get(`${base}/page`, b)).status, 200, 'visitor B has its own bucket')
  })

  it('a route limit by header: the key that used its burst is limited, another key is not', async () => {
    const base = `${server.url}/pub/${agent.id}/api/x`
    // The same address for both: the header tells them apart.
    const one = { 'x-forwarded-for': '203.0.113.9', 'x-api-key': 'key-one' }
    const two = { 'x-forwarded-for': '203.0.113.9', 'x-api-key': 'key-two' }
    assert.equal((await get(base, one)).status, 200)
    assert.equal((await get(base, one)).status, 200)
    assert.equal((await get(base, one)).status, 429)
    assert.equal((await get(base, two)).status, 200)
  })
})

const available = await redisOrSkip('per-visitor limits across instances (Redis)')

if (available) {
  describe('per-visitor limits across two instances on one Redis', () => {
    const prefix = runPrefix('visitor-limits')
    const env = clusterEnv(REDIS_URL, prefix, randomBytes(32).toString('base64'))
    const dir = tempDir()
    let service: LocalService
    let a: ServerProcess
    let b: ServerProcess
    let agent: AgentProcess

    before(async () => {
      service = await startLocalService()
      a = await startMember(env)
      b = await startMember(env)
      agent = await startAgentProcess(a.url, service.url, { stateFile: dir.file('state.json'), args: ['--rate-limit', '1/m,burst=2,by=header:X-Visitor'] })
    })
    after(async () => {
      await agent?.stop()
      await a?.stop()
      await b?.stop()
      await service?.close()
      dir.remove()
      const admin = await adminClient(REDIS_URL)
      await deleteKeys(admin, prefix)
      admin.destroy()
    })

    it('a visitor alternating between instances shares one bucket; another visitor is served', async () => {
      const visitor = { 'x-visitor': 'alice' }
      assert.equal((await get(`${a.url}/pub/${agent.id}/x`, visitor)).status, 200)
      assert.equal((await get(`${b.url}/pub/${agent.id}/x`, visitor)).status, 200, 'B serves through the agent on A')
      const onA = await get(`${a.url}/pub/${agent.id}/x`, visitor)
      const onB = await get(`${b.url}/pub/${agent.id}/x`, visitor)
      assert.equal(onA.status, 429, 'the bucket is the same on A…')
      assert.equal(onB.status, 429, '…and on B')
      assert.ok(Number(onB.retryAfter) >= 1)
      assert.equal((await get(`${b.url}/pub/${agent.id}/x`, { 'x-visitor': 'bob' })).status, 200)
    })
  })
}

describe('per-visitor limits while Redis is down: each instance falls back to its own buckets', () => {
  const dir = tempDir()
  const jobs: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const job of jobs.reverse()) await job().catch(() => {})
    dir.remove()
  })

  it('a visitor over the limit is still refused (429 + Retry-After), another is served, and the limit is shared again once Redis is back', async (t) => {
    const redis = await startPrivateRedis()
    if (redis === null) {
      t.skip('no redis-server binary to run a private Redis (this test kills it; it never touches the shared one)')
      return
    }
    jobs.push(() => redis.kill())
    const service = await startLocalService()
    jobs.push(() => service.close())
    const prefix = runPrefix('visitor-outage')
    // Debug: the server logs cluster errors (the limits going local among them) at that level.
    const server = await startMember(clusterEnv(redis.url, prefix, randomBytes(32).toString('base64'), { LOG_LEVEL: 'debug' }))
    jobs.push(() => server.stop())
    const agent = await startAgentProcess(server.url, service.url, {
      stateFile: dir.file('state.json'),
      args: ['--rate-limit', '1/m,burst=2,by=header:X-Visitor'],
    })
    jobs.push(() => agent.stop())
    const url = `${server.url}/pub/${agent.id}/x`
    const alice = { 'x-visitor': 'alice' }
    assert.equal((await get(url, alice)).status, 200)
    assert.equal((await get(url, alice)).status, 200)
    assert.equal((await get(url, alice)).status, 429, 'the shared bucket, before the outage')

    await redis.kill()
    // The local bucket starts full: the burst again, then the limit holds on this instance.
    const during = [await get(url, alice), await get(url, alice), await get(url, alice)]
    assert.deepEqual(
      during.map((r) => r.status),
      [200, 200, 429],
      during.map((r) => r.body).join(' | '),
    )
    assert.ok(Number(during[2]!.retryAfter) >= 1, `Retry-After: ${during[2]!.retryAfter}`)
    assert.equal((await get(url, { 'x-visitor': 'bob' })).status, 200, 'another visitor has their own local bucket')
    await server.waitForLine((l) => l.includes('per-visitor rate limits: Redis did not answer; limiting with this instance'))

    await redis.restart()
    // Redis is empty after its restart: once the server has reconnected, a visitor's bucket is in Redis again.
    const admin = await adminClient(redis.url)
    jobs.push(async () => admin.destroy())
    const deadline = Date.now() + 10_000
    let shared = 0
    while (shared === 0 && Date.now() < deadline) {
      assert.equal((await get(url, { 'x-visitor': 'carol' })).status, 200)
      shared = (await admin.keys(`${prefix}*rate*`)).length
      if (shared === 0) await delay(100)
    }
    assert.ok(shared > 0, 'the buckets live in Redis again once it is back')
  })
})
