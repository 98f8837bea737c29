/**
 * The soak's "relayed uploads to an instance that just left" finding: a
 * public upload lands on instance A for a tunnel whose agent is on instance
 * B, which got SIGTERM and no longer takes streams (its drain is past the
 * public-socket phase). The relay used to stream the body to B at once, B
 * refused the stream, and with the body gone the request could only fail
 * (502). Now A holds the body until the other instance says it opened the
 * stream on an agent (an interim 100): a refusal is retried — served by the
 * agent's new connection — or, when the agent does not come back within the
 * hold, answered 503 + Retry-After with none of the body sent anywhere.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { connect, type Tunnel } from '../../../src/agent/tunnel.js'
import { startCloudRun, type CloudRun, type Instance } from '../../harness/cloud-run/index.js'
import { clusterEnv, redisOrSkip, REDIS_URL, runPrefix } from '../../harness/cluster.js'
import { startLocalService, type LocalService } from '../../harness/local-service.js'
import { startTcpBalancer, type TcpBalancer } from '../../harness/tcp-balancer.js'

const run = await redisOrSkip('relayed uploads to a draining instance')
const API_KEY = 'relayed-upload-test-key-0123456789abcdef'
const UPLOAD = Buffer.alloc(4 * 1024 * 1024, 7)
const UPLOAD_SHA = createHash('sha256').update(UPLOAD).digest('hex')

interface Setup {
  cr: CloudRun
  service: LocalService
  balancer: TcpBalancer
  tunnel: Tunnel
  /** Holds the agent; retired by the test. */
  b: Instance
  /** Gets the public request (the only one the front end routes to once B leaves). */
  a: Instance
  path: string
}

/**
 * Two instances on one Redis; the agent reaches B only (through a TCP
 * balancer whose list the test extends), so while B drains the agent's
 * replacement has nowhere to go — presence names B alone.
 */
async function setUp(extraEnv: NodeJS.ProcessEnv = {}): Promise<Setup> {
  const service = await startLocalService()
  const env = clusterEnv(REDIS_URL, runPrefix('relayed-upload'), 'relayed-upload-signing-key-0123456789abcdef', {
    ADIT_API_KEYS: API_KEY,
    LOG_LEVEL: 'info',
    ...extraEnv,
  })
  const cr = await startCloudRun({ instances: 2, env })
  const [b, a] = cr.serving as [Instance, Instance]
  const balancer = await startTcpBalancer([b.port])
  const tunnel = await connect({ server: balancer.url, local: service.url, stateFile: null, apiKey: API_KEY, reconnectBaseMs: 50, reconnectMaxMs: 200 })
  while (tunnel.connectedCount < 2) await delay(20)
  const path = new URL(tunnel.publicUrl).pathname
  // A serves the tunnel through the relay.
  const warm = await request(`http://127.0.0.1:${a.port}${path}echo`)
  assert.equal(warm.statusCode, 200)
  await warm.body.text()
  return { cr, service, balancer, tunnel, b, a, path }
}

async function tearDown(s: Setup | undefined): Promise<void> {
  await s?.tunnel.close()
  await s?.balancer.close()
  await s?.cr.close()
  await s?.service.close()
}

/** SIGTERM to B while a request it serves keeps it draining; resolves once B refuses new relayed streams. */
async function drainB(s: Setup): Promise<{ exit: Promise<number | null>; slow: Promise<unknown> }> {
  // A public request on B itself keeps B's drain going to its deadline (8 s), well past the point where it takes no more streams.
  const slow = request(`http://127.0.0.1:${s.b.port}${s.path}slow`).then(
    (r) => r.body.text(),
    () => undefined,
  )
  while (s.service.requests.filter((r) => r.url.startsWith('/slow')).length === 0) await delay(10)
  const exit = s.cr.retire(s.b)
  // The drain answers the agent's GOAWAY once public sockets are gone or after 1 s: then B refuses new streams.
  await delay(2_000)
  return { exit, slow }
}

describe('a relayed upload to an instance that just left', { skip: !run }, () => {
  let s: Setup | undefined
  before(async () => {
    s = await setUp()
  })
  after(() => tearDown(s))

  it('is served whole by the agent once it reconnects elsewhere, never a 502 after its body was sent', async () => {
    const { exit } = await drainB(s!)
    const uploadsBefore = s!.service.requests.filter((r) => r.url === '/echo/up').length
    const res = request(`${s!.cr.url}${s!.path}echo/up`, { method: 'POST', body: UPLOAD })
    // The agent finds A a moment later.
    await delay(300)
    s!.balancer.backends.push(s!.a.port)
    const answer = await res
    const text = await answer.body.text()
    assert.equal(answer.statusCode, 200, text)
    const echo = JSON.parse(text) as { sha256: string; length: number }
    assert.equal(echo.length, UPLOAD.length)
    assert.equal(echo.sha256, UPLOAD_SHA)
    assert.equal(s!.service.requests.filter((r) => r.url === '/echo/up').length, uploadsBefore + 1, 'the service saw it once')
    void exit
  })
})

describe('a relayed upload to an instance that just left, the agent not back in time', { skip: !run }, () => {
  let s: Setup | undefined
  before(async () => {
    s = await setUp({ ADIT_HOLD_TIMEOUT: '1500ms' })
  })
  after(() => tearDown(s))

  it('gets 503 with Retry-After, and none of its body reached the service', async () => {
    await drainB(s!)
    const uploadsBefore = s!.service.requests.filter((r) => r.url === '/echo/up').length
    const res = await request(`${s!.cr.url}${s!.path}echo/up`, { method: 'POST', body: UPLOAD })
    const text = await res.body.text()
    assert.equal(res.statusCode, 503, text)
    assert.ok(res.headers['retry-after'] !== undefined, 'Retry-After is set')
    assert.match(text, /reconnecting/)
    assert.equal(s!.service.requests.filter((r) => r.url === '/echo/up').length, uploadsBefore, 'the service never saw the upload')
  })
})
