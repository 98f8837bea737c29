/**
 * A response cut mid-body must never look complete to an HTTP/2 public
 * client: the stream ends in RST_STREAM with an error code (INTERNAL_ERROR),
 * never in END_STREAM, nor in RST_STREAM(NO_ERROR), which node:http2 — like
 * other clients — reads as the end of the body. HTTP/1.1's cases are in
 * truncation.test.ts.
 *
 * Every way a body is cut while an HTTP/2 client reads it: the local service
 * resets its connection (content-length, chunked and close-delimited
 * answers), the agent's WebSocket closes (the agent process killed, a
 * hand-driven agent that closes its WebSocket cleanly), a hand-driven agent
 * that sends less or more than its content-length, the server's drain
 * deadline, over TLS h2 as over h2c, and (with Redis) the relay between
 * instances lost (the agent's instance killed, Redis killed). Real server and
 * agent processes on loopback, port 0.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as h2connect, constants, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2'
import type { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { register } from '../../src/agent/registration.js'
import { encodeData, encodeEnd, encodeHead } from '../../src/protocol/index.js'
import { clusterEnv, hasRedisServer, startPrivateRedis, runPrefix } from '../harness/cluster.js'
import type { LocalService } from '../harness/local-service.js'
import { CUT_PART as PART, startCuttingService } from '../harness/cutting-service.js'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { connectRawAgent } from '../harness/raw-agent.js'
import { cleanup } from '../harness/security-helpers.js'
import { tempDir } from '../harness/temp.js'
import { makeTestCert, opensslMissing } from '../harness/tls-cert.js'

/** How an HTTP/2 response ended, as the client saw it. */
interface H2Ending {
  /** 'end': the stream ended normally (END_STREAM, or RST_STREAM NO_ERROR); 'reset': closed without an end; 'open' at the deadline. */
  how: 'end' | 'reset' | 'open'
  rstCode: number | undefined
  status: number
  bodyBytes: number
}

/** One GET over `session`; `started` resolves once `minBody` body bytes arrived, `ending` when the stream closes. */
function h2Get(session: ClientHttp2Session, path: string, minBody: number, timeoutMs = 15_000): { started: Promise<void>; ending: Promise<H2Ending> } {
  const stream = session.request({ ':method': 'GET', ':path': path })
  let status = 0
  let bodyBytes = 0
  let how: H2Ending['how'] = 'reset'
  let onStarted: () => void = () => {}
  const started = new Promise<void>((resolve) => (onStarted = resolve))
  const ending = new Promise<H2Ending>((resolve) => {
    const timer = setTimeout(() => {
      how = 'open'
      stream.close(constants.NGHTTP2_CANCEL)
    }, timeoutMs)
    stream.on('response', (h) => (status = Number(h[':status'])))
    stream.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length
      if (bodyBytes >= minBody) onStarted()
    })
    stream.on('end', () => {
      if (how !== 'open') how = 'end'
    })
    stream.on('error', () => {})
    stream.on('close', () => {
      clearTimeout(timer)
      onStarted()
      resolve({ how, rstCode: stream.rstCode, status, bodyBytes })
    })
  })
  return { started, ending }
}

function describeEnding(e: H2Ending): string {
  return `status ${e.status}, ${e.bodyBytes} body bytes, ${e.how}, rst code ${e.rstCode}`
}

/** The cut must reach the client as RST_STREAM(INTERNAL_ERROR) after the part that was sent. */
function assertCut(name: string, e: H2Ending, minBody: number): void {
  assert.equal(e.status, 200, `${name}: ${describeEnding(e)}`)
  assert.ok(e.bodyBytes >= minBody, `${name}: the part sent before the cut arrived (${describeEnding(e)})`)
  assert.deepEqual({ how: e.how, rstCode: e.rstCode }, { how: 'reset', rstCode: constants.NGHTTP2_INTERNAL_ERROR }, `${name}: ${describeEnding(e)}`)
}

/** Every case's ending is reported before any is asserted (so a run shows them all). */
async function checkAll(t: { diagnostic(message: string): void }, what: string, cases: Record<string, { ending: Promise<H2Ending> }>): Promise<void> {
  const endings: Array<[string, H2Ending]> = []
  for (const [name, { ending }] of Object.entries(cases)) {
    const end = await ending
    t.diagnostic(`${what}, ${name}: ${describeEnding(end)}`)
    endings.push([name, end])
  }
  for (const [name, end] of endings) assertCut(name, end, 1000)
}

function session(url: string, options: SecureClientSessionOptions = {}): ClientHttp2Session {
  const s = h2connect(url, options)
  s.on('error', () => {})
  return s
}

describe('h2c: a response cut mid-body reaches an HTTP/2 client as RST_STREAM(INTERNAL_ERROR), never as its end', { timeout: 120_000 }, () => {
  const jobs = cleanup()
  const hanging = new Set<Socket>()
  let server: ServerProcess
  let service: LocalService
  let steady: AgentProcess
  let dir: ReturnType<typeof tempDir>
  let client: ClientHttp2Session

  before(async () => {
    service = jobs.add(await startCuttingService(hanging))
    jobs.add({ close: () => hanging.forEach((s) => s.destroy()) })
    server = jobs.add(await startServerProcess({ args: ['--h2c'] }))
    dir = jobs.add(tempDir())
    steady = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('steady.json') }))
    client = session(server.url)
    jobs.add({ close: () => client.destroy() })
  })
  after(() => jobs.run())

  it('the local service resets mid-body: content-length, chunked and close-delimited answers', async (t) => {
    const base = new URL(steady.publicUrl).pathname
    const cases = {
      'content-length': h2Get(client, `${base}with-length-dies`, 1000),
      chunked: h2Get(client, `${base}chunked-dies`, 1000),
      'close-delimited, then reset': h2Get(client, `${base}close-delimited-resets`, 1000),
    }
    await checkAll(t, 'service reset', cases)
    assert.equal(client.closed || client.destroyed, false, 'the HTTP/2 connection itself stays up')
  })

  it("the agent's WebSocket closes mid-body: the agent process killed", async (t) => {
    const doomed = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('doomed.json') }))
    const base = new URL(doomed.publicUrl).pathname
    const cases = {
      'content-length': h2Get(client, `${base}with-length`, 1000),
      'no length': h2Get(client, `${base}close-delimited`, 1000),
    }
    await Promise.all(Object.values(cases).map((c) => c.started))
    await doomed.stop('SIGKILL')
    await checkAll(t, 'agent killed', cases)
  })

  it("the agent's WebSocket closes mid-body: a hand-driven agent closes it cleanly (close 1000) after part of the body", async (t) => {
    const state = await register(new URL(server.url), undefined)
    const raw = await connectRawAgent(server.url, state.id, state.secret, (ws, streamId, head) => {
      const headers: Array<[string, string]> = [['content-type', 'text/plain']]
      if (head.path.includes('length')) headers.push(['content-length', '100000'])
      ws.send(encodeHead(streamId, { status: 200, headers }))
      ws.send(encodeData(streamId, Buffer.from(PART)))
    })
    jobs.add({ close: () => raw.close() })
    const cases = {
      'content-length': h2Get(client, `/pub/${state.id}/length`, 1000),
      'no length': h2Get(client, `/pub/${state.id}/none`, 1000),
    }
    await Promise.all(Object.values(cases).map((c) => c.started))
    raw.ws.close(1000, 'bye')
    await checkAll(t, 'raw agent closed its WebSocket', cases)
  })

  it('a hand-driven agent breaks its content-length: a short body then END, or DATA past the length', async (t) => {
    const state = await register(new URL(server.url), undefined)
    const raw = await connectRawAgent(server.url, state.id, state.secret, (ws, streamId, head) => {
      const short = head.path.includes('short')
      ws.send(encodeHead(streamId, { status: 200, headers: [['content-length', short ? '5000' : '1500']] }))
      ws.send(encodeData(streamId, Buffer.from(PART)))
      // Short: END after 1,000 of 5,000 bytes. Long: 1,000 more bytes where 500 were left.
      setTimeout(() => ws.send(short ? encodeEnd(streamId) : encodeData(streamId, Buffer.from(PART))), 100)
    })
    jobs.add({ close: () => raw.close() })
    await checkAll(t, 'raw agent broke its length', {
      'content-length 5000, 1000 bytes, END': h2Get(client, `/pub/${state.id}/short`, 1000),
      'content-length 1500, 2000 bytes': h2Get(client, `/pub/${state.id}/long`, 1000),
    })
  })

  it("the server's drain deadline cuts a body still streaming (SIGTERM, --drain-timeout 1s)", async (t) => {
    const draining = jobs.add(await startServerProcess({ args: ['--h2c', '--drain-timeout', '1s'] }))
    const agent = jobs.add(await startAgentProcess(draining.url, service.url, { stateFile: dir.file('drain.json') }))
    const s = session(draining.url)
    jobs.add({ close: () => s.destroy() })
    const base = new URL(agent.publicUrl).pathname
    const cases = {
      'content-length': h2Get(s, `${base}with-length`, 1000),
      'no length': h2Get(s, `${base}close-delimited`, 1000),
    }
    await Promise.all(Object.values(cases).map((c) => c.started))
    await draining.stop('SIGTERM', 10_000)
    await checkAll(t, 'drain deadline', cases)
  })
})

describe('TLS h2 (--tls-cert): the same reset for a cut body', { timeout: 60_000, skip: opensslMissing('the TLS h2 truncation test') }, () => {
  const jobs = cleanup()
  const hanging = new Set<Socket>()
  after(() => jobs.run())

  it('the local service resets mid-body, and the agent is killed mid-body: RST_STREAM(INTERNAL_ERROR) over TLS too', async (t) => {
    const dir = jobs.add(tempDir())
    const cert = makeTestCert(dir.path)
    const service = jobs.add(await startCuttingService(hanging))
    jobs.add({ close: () => hanging.forEach((s) => s.destroy()) })
    const server = jobs.add(await startServerProcess({ args: ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile] }))
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('tls.json'), env: { NODE_EXTRA_CA_CERTS: cert.certFile } }))
    const s = session(server.url, { ca: cert.cert, servername: 'localhost' })
    jobs.add({ close: () => s.destroy() })
    const base = new URL(agent.publicUrl).pathname
    const reset = await h2Get(s, `${base}with-length-dies`, 1000).ending
    t.diagnostic(`TLS h2, service reset, content-length: ${describeEnding(reset)}`)
    const hangingAnswer = h2Get(s, `${base}close-delimited`, 1000)
    await hangingAnswer.started
    await agent.stop('SIGKILL')
    const killed = await hangingAnswer.ending
    t.diagnostic(`TLS h2, agent killed, no length: ${describeEnding(killed)}`)
    assertCut('service reset', reset, 1000)
    assertCut('agent killed', killed, 1000)
  })
})

describe(
  'the relay between instances is lost mid-body (h2c client on A, agent on B, a private Redis)',
  { timeout: 90_000, skip: !hasRedisServer && 'no redis-server binary' },
  () => {
    const jobs = cleanup()
    const hanging = new Set<Socket>()
    after(() => jobs.run())

    async function cluster(label: string) {
      const redis = await startPrivateRedis()
      assert.ok(redis)
      jobs.add({ close: () => redis.kill() })
      const env = clusterEnv(redis.url, runPrefix(label), randomBytes(32).toString('base64'))
      const a = jobs.add(await startServerProcess({ env, args: ['--h2c'] }))
      const b = jobs.add(await startServerProcess({ env, args: ['--h2c'] }))
      const dir = jobs.add(tempDir())
      const agent = jobs.add(await startAgentProcess(b.url, service.url, { stateFile: dir.file(`${label}.json`) }))
      const s = session(a.url)
      jobs.add({ close: () => s.destroy() })
      return { redis, a, b, agent, s }
    }
    let service: LocalService
    before(async () => {
      service = jobs.add(await startCuttingService(hanging))
      jobs.add({ close: () => hanging.forEach((s) => s.destroy()) })
    })

    it("the agent's instance (B) is killed: A's client gets RST_STREAM(INTERNAL_ERROR)", async (t) => {
      const { b, agent, s } = await cluster('h2cut-kill')
      const base = `/pub/${agent.id}/`
      const cases = {
        'content-length': h2Get(s, `${base}with-length`, 1000, 30_000),
        'no length': h2Get(s, `${base}close-delimited`, 1000, 30_000),
      }
      await Promise.all(Object.values(cases).map((c) => c.started))
      await b.stop('SIGKILL')
      await checkAll(t, 'relay lost (B killed)', cases)
    })

    it("Redis is killed: the relay's bus breaks and A's client gets RST_STREAM(INTERNAL_ERROR)", async (t) => {
      const { redis, agent, s } = await cluster('h2cut-redis')
      const base = `/pub/${agent.id}/`
      const cases = {
        'content-length': h2Get(s, `${base}with-length`, 1000, 30_000),
        'no length': h2Get(s, `${base}close-delimited`, 1000, 30_000),
      }
      await Promise.all(Object.values(cases).map((c) => c.started))
      await redis.kill()
      await checkAll(t, 'relay lost (Redis killed)', cases)
    })
  },
)
