/**
 * The emulated Cloud Run front end itself (test/harness/cloud-run/): each of
 * its rules, shown against real `adit server` instances. Bounded: compressed
 * times, at most two instances at once.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { connect, type Tunnel } from '../../../src/agent/tunnel.js'
import { startCloudRun, AFFINITY_COOKIE, instanceHeaders, type CloudRun } from '../../harness/cloud-run/index.js'
import { startLocalService, type LocalService } from '../../harness/local-service.js'

const API_KEY = 'cloud-run-emulator-test-key-0123456789'
const env = { ADIT_API_KEYS: API_KEY, ADIT_SIGNING_KEY: 'cloud-run-emulator-signing-key-0123456789abcdef', LOG_LEVEL: 'warn' }

function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {}
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=')
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return out
}

/** Resolves with the close code, and how long after `since` it came. */
function closedAfter(ws: WebSocket, since: number): Promise<{ code: number; ms: number }> {
  return new Promise((resolve) => ws.once('close', (code) => resolve({ code, ms: Date.now() - since })))
}

describe('cloud-run emulator: the front end adds Google headers, the instances get Cloud Run env', () => {
  let cr: CloudRun
  let service: LocalService
  let tunnel: Tunnel
  before(async () => {
    service = await startLocalService()
    cr = await startCloudRun({ service: 'adit-test', revision: '00007', env })
    tunnel = await connect({ server: cr.url, local: service.url, stateFile: null, apiKey: API_KEY })
  })
  after(async () => {
    await tunnel?.close()
    await cr?.close()
    await service?.close()
  })

  it('sets K_SERVICE, K_REVISION, K_CONFIGURATION and PORT on the instance', () => {
    const [instance] = cr.serving
    assert.ok(instance)
    const e = environOf(instance.pid)
    assert.equal(e.K_SERVICE, 'adit-test')
    assert.equal(e.K_REVISION, 'adit-test-00007')
    assert.equal(e.K_CONFIGURATION, 'adit-test')
    assert.equal(e.PORT, String(instance.port))
    // The pool routes to an instance only once a TCP connect to PORT succeeds (Cloud Run's default startup probe).
  })

  it('appends the client to X-Forwarded-For, sets the proto, and keeps the caller trace id in both trace headers', () => {
    const trace = '0af7651916cd43dd8448eb211c80319c'
    const h = instanceHeaders(
      [
        'Host',
        'x',
        'X-Forwarded-For',
        '10.0.0.1',
        'traceparent',
        `00-${trace}-b7ad6b7169203331-01`,
        'Connection',
        'keep-alive, x-private',
        'X-Private',
        'hop',
        'TE',
        'trailers',
      ],
      '203.0.113.9',
      'https',
    )
    assert.equal(h['x-forwarded-for'], '10.0.0.1, 203.0.113.9')
    assert.equal(h['x-forwarded-proto'], 'https')
    assert.equal(h.forwarded, 'for="203.0.113.9";proto=https')
    assert.match(String(h.traceparent), new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`))
    assert.notEqual(String(h.traceparent).split('-')[2], 'b7ad6b7169203331', 'the front end is a new span')
    assert.match(String(h['x-cloud-trace-context']), new RegExp(`^${trace}/\\d+;o=1$`))
    for (const gone of ['connection', 'x-private', 'te']) assert.equal(h[gone], undefined, gone)
    const fresh = instanceHeaders(['Host', 'x'], '127.0.0.1', 'http')
    assert.match(String(fresh['x-cloud-trace-context']), /^[0-9a-f]{32}\/\d+;o=0$/)
  })

  it('the service behind the tunnel sees the client address and the caller trace id', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736'
    const res = await request(`${tunnel.publicUrl}echo/hdr`, { headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } })
    assert.equal(res.statusCode, 200)
    const echo = (await res.body.json()) as { headers: Record<string, string> }
    assert.match(echo.headers['x-forwarded-for'] ?? '', /127\.0\.0\.1/)
    assert.equal(echo.headers['x-forwarded-proto'], 'http')
    assert.match(echo.headers.traceparent ?? '', new RegExp(`^00-${trace}-`))
  })
})

describe('cloud-run emulator: the request timeout cuts every request, a WebSocket included', () => {
  let cr: CloudRun
  let service: LocalService
  let tunnel: Tunnel
  before(async () => {
    service = await startLocalService()
    cr = await startCloudRun({ timeoutMs: 1500, env })
    // The agent's own connections are cut too; it reconnects.
    tunnel = await connect({ server: cr.url, local: service.url, stateFile: null, apiKey: API_KEY })
  })
  after(async () => {
    await tunnel?.close()
    await cr?.close()
    await service?.close()
  })

  it('a slow request gets 504 from the front end at the timeout', async () => {
    const started = Date.now()
    const res = await request(`${tunnel.publicUrl}slow`)
    const ms = Date.now() - started
    assert.equal(res.statusCode, 504)
    assert.equal(res.headers['x-cloud-run-emulator'], 'front-end')
    await res.body.text()
    assert.ok(ms >= 1400 && ms < 4000, `cut after ${ms} ms`)
  })

  it('a download still streaming at the timeout is cut: the client sees a reset, not a clean end', async () => {
    // 400 MiB cannot cross loopback and the tunnel in 1.5 s on these machines.
    const res = await request(`${tunnel.publicUrl}bytes/${400 * 1024 * 1024}`)
    assert.equal(res.statusCode, 200)
    await assert.rejects(res.body.arrayBuffer())
  })

  it("an agent's WebSocket is cut abruptly (1006, no close frame) at the timeout", async () => {
    const url = `${cr.url.replace('http:', 'ws:')}/ws?id=${tunnel.id}`
    const ws = new WebSocket(url, ['adit.v2'], { headers: { authorization: `Bearer ${tunnel.state.secret}` } })
    ws.on('error', () => {})
    const opened = await new Promise<number>((resolve, reject) => {
      ws.once('open', () => resolve(Date.now()))
      ws.once('unexpected-response', (_q, r) => reject(new Error(`refused ${r.statusCode}`)))
    })
    const { code, ms } = await closedAfter(ws, opened)
    assert.equal(code, 1006)
    assert.ok(ms >= 1300 && ms < 3000, `cut after ${ms} ms`)
    assert.ok(cr.counters.upgradeTimeouts >= 1)
  })
})

describe('cloud-run emulator: routing without and with affinity', () => {
  let spread: CloudRun
  let sticky: CloudRun
  before(async () => {
    spread = await startCloudRun({ instances: 2, env })
    sticky = await startCloudRun({ instances: 2, affinity: true, env })
  })
  after(async () => {
    await spread?.close()
    await sticky?.close()
  })

  it('no affinity: requests on one keep-alive connection land on both instances', async () => {
    for (let i = 0; i < 30; i++) await (await request(`${spread.url}/healthz`)).body.text()
    const counts = spread.serving.map((i) => i.served)
    assert.ok(
      counts.every((n) => n > 0),
      `served: ${counts.join(', ')}`,
    )
  })

  it('best-effort affinity: the GAESA cookie brings a client back to its instance', async () => {
    const first = await request(`${sticky.url}/healthz`)
    await first.body.text()
    const cookie = String(first.headers['set-cookie'] ?? '').split(';')[0]!
    assert.match(cookie, new RegExp(`^${AFFINITY_COOKIE}=`))
    const name = cookie.split('=')[1]
    const before = new Map(sticky.serving.map((i) => [i.name, i.served]))
    for (let i = 0; i < 20; i++) await (await request(`${sticky.url}/healthz`, { headers: { cookie } })).body.text()
    for (const i of sticky.serving) assert.equal(i.served - before.get(i.name)!, i.name === name ? 20 : 0, i.name)
  })
})

describe('cloud-run emulator: concurrency per instance', () => {
  let cr: CloudRun
  let service: LocalService
  let tunnel: Tunnel
  before(async () => {
    service = await startLocalService()
    cr = await startCloudRun({ concurrency: 3, env })
    tunnel = await connect({ server: cr.url, local: service.url, stateFile: null, apiKey: API_KEY, connections: 2 })
    while (tunnel.connectedCount < 2) await delay(20)
  })
  after(async () => {
    await tunnel?.close()
    await cr?.close()
    await service?.close()
  })

  it("the agent's two WebSockets take two slots, a slow request the third; the next request gets 429 from the front end", async () => {
    const slow = request(`${tunnel.publicUrl}slow`).catch(() => undefined)
    while (cr.serving[0]!.inFlight < 3) await delay(10)
    const res = await request(`${tunnel.publicUrl}echo`)
    assert.equal(res.statusCode, 429)
    assert.equal(res.headers['x-cloud-run-emulator'], 'front-end')
    await res.body.text()
    void slow
  })
})

describe('cloud-run emulator: HTTP/1 bodies capped at 32 MiB, lifted by --use-http2', () => {
  const big = 33 * 1024 * 1024
  let http1: CloudRun
  let http2: CloudRun
  let service: LocalService
  let tunnel: Tunnel
  let viaHttp1: Tunnel
  before(async () => {
    service = await startLocalService()
    http1 = await startCloudRun({ env })
    http2 = await startCloudRun({ http2: true, env, args: ['--h2c'] })
    viaHttp1 = await connect({ server: http1.url, local: service.url, stateFile: null, apiKey: API_KEY })
  })
  after(async () => {
    await tunnel?.close()
    await viaHttp1?.close()
    await http1?.close()
    await http2?.close()
    await service?.close()
  })

  it('413 from the front end for a declared body over 32 MiB, and for a chunked one once it passes 32 MiB', async () => {
    const served = http1.serving[0]!.served
    const declared = await request(`${viaHttp1.publicUrl}echo`, { method: 'POST', body: Buffer.alloc(big) })
    assert.equal(declared.statusCode, 413)
    assert.equal(declared.headers['x-cloud-run-emulator'], 'front-end')
    await declared.body.text()
    async function* chunks() {
      for (let sent = 0; sent < big; sent += 1024 * 1024) yield Buffer.alloc(1024 * 1024)
    }
    const before = service.requests.length
    const chunked = await request(`${viaHttp1.publicUrl}echo`, { method: 'POST', body: Readable.from(chunks()) })
    assert.equal(chunked.statusCode, 413)
    assert.equal(chunked.headers['x-cloud-run-emulator'], 'front-end')
    await chunked.body.text()
    assert.equal(http1.serving[0]!.served, served + 1, 'the declared one never reached the instance')
    assert.equal(service.requests.length, before + 1, 'the chunked one had started')
  })

  it('--use-http2 refuses WebSocket upgrades (they would need RFC 8441) and carries a 33 MiB upload whole', async () => {
    const ws = new WebSocket(`${http2.url.replace('http:', 'ws:')}/ws?id=x`, ['adit.v2'])
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_q, r) => resolve(r.statusCode!))
      ws.once('error', () => resolve(0))
    })
    assert.equal(status, 502)
    // The agent reaches the instance over HTTP/1 as it would through a second, HTTP/1 service.
    tunnel = await connect({ server: `http://127.0.0.1:${http2.serving[0]!.port}`, local: service.url, stateFile: null, apiKey: API_KEY })
    const path = new URL(tunnel.publicUrl).pathname
    const body = Buffer.alloc(big, 5)
    const res = await request(`${http2.url}${path}echo/up`, { method: 'POST', body })
    assert.equal(res.statusCode, 200)
    const echo = (await res.body.json()) as { sha256: string; length: number }
    assert.equal(echo.length, big)
    assert.equal(echo.sha256, createHash('sha256').update(body).digest('hex'))
  })
})

describe('cloud-run emulator: scale events', () => {
  let cr: CloudRun
  let service: LocalService
  let tunnel: Tunnel | undefined
  before(async () => {
    service = await startLocalService()
    cr = await startCloudRun({ instances: 0, coldStartMs: 600, killAfterMs: 800, env })
  })
  after(async () => {
    await tunnel?.close()
    await cr?.close()
    await service?.close()
  })

  it('a request with no instance waits for the cold start, then is served', async () => {
    const scaling = cr.scaleTo(1)
    const started = Date.now()
    const res = await request(`${cr.url}/healthz`)
    assert.equal(res.statusCode, 200)
    await res.body.text()
    assert.ok(Date.now() - started >= 550, 'not before the cold start ended')
    await scaling
  })

  it('a leaving instance is out of routing at once, gets SIGTERM, and SIGKILL after killAfterMs when it is still there', async () => {
    tunnel = await connect({ server: cr.url, local: service.url, stateFile: null, apiKey: API_KEY })
    const [old] = cr.serving
    // A request in flight keeps the draining server up past killAfterMs (its drain timeout is 8 s).
    const slow = request(`${tunnel.publicUrl}slow`).catch(() => undefined)
    while (old!.inFlight < 3) await delay(10)
    const fresh = cr.pool.add('00002')
    await fresh
    const started = Date.now()
    const servedBefore = old!.served
    const exit = cr.retire(old!)
    assert.equal(old!.state, 'leaving')
    for (let i = 0; i < 10; i++) await (await request(`${cr.url}/healthz`)).body.text()
    assert.equal(old!.served, servedBefore, 'nothing new went to the leaving instance')
    await exit
    const ms = Date.now() - started
    assert.equal(old!.proc.proc.signalCode, 'SIGKILL')
    assert.ok(ms >= 750 && ms < 3000, `killed after ${ms} ms`)
    void slow
    // With nothing in flight, SIGTERM alone ends an instance: a clean exit, long before SIGKILL.
    await tunnel.close()
    tunnel = undefined
    const other = await fresh
    await other.retire(10_000)
    assert.equal(other.proc.proc.exitCode, 0)
    assert.equal(other.proc.proc.signalCode, null)
  })
})
