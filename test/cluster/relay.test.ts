/**
 * Cross-instance streams without a network: two (or three) servers in this
 * process on one MemoryHub, the agent on B, public requests to A. The same
 * relay runs over Redis in test/e2e/cluster-*.test.ts.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
import { createMemoryCluster, createMemoryHub, type MemoryHub } from '../../src/cluster/memory.js'
import { silentLogger } from '../../src/observability/logger.js'
import { startServer, type RunningServer } from '../../src/server/server.js'
import { decodeEnvelope, encodeEnvelope, Envelope, EnvelopeKind, envelopeId } from '../../src/server/relay/envelope.js'
import { resolveRelayOptions } from '../../src/server/relay/relay-options.js'
import { encodeData, encodeWindow } from '../../src/protocol/index.js'
import { patternHash, startLocalService, type LocalService } from '../harness/local-service.js'

const signingKeys = [randomBytes(32).toString('base64')]

async function instance(hub: MemoryHub, name: string, extra: Parameters<typeof startServer>[0] = {}): Promise<RunningServer> {
  const cluster = createMemoryCluster({ instanceId: `${name}-${randomBytes(3).toString('hex')}`, hub })
  return startServer({ host: '127.0.0.1', port: 0, signingKeys, cluster, logger: silentLogger(), holdTimeoutMs: 1500, ...extra })
}

/** The tunnel's URL on another instance than the one that registered it. */
function on(server: RunningServer, tunnel: Tunnel, path = ''): string {
  return `${server.url}/pub/${tunnel.id}/${path}`
}

describe('relay envelope', () => {
  it('round-trips kind, sender, tunnel and frame, as a view', () => {
    const frame = encodeData(7, Buffer.from('hello'))
    const message = encodeEnvelope(EnvelopeKind.TO_ENDPOINT, envelopeId('host-a1b2c3'), envelopeId('t1'), frame)
    assert.deepEqual([...message.subarray(0, 4)], [1, 1, 11, 0x68])
    const env = new Envelope()
    assert.equal(decodeEnvelope(message, env), true)
    assert.equal(env.kind, EnvelopeKind.TO_ENDPOINT)
    assert.equal(env.sender, 'host-a1b2c3')
    assert.equal(env.tunnel, 't1')
    assert.deepEqual(env.frame, frame)
    assert.equal(env.frame.buffer, message.buffer, 'the frame is a view into the message')
    const probe = encodeEnvelope(EnvelopeKind.PROBE, envelopeId('b'), null, null)
    assert.deepEqual([...probe], [1, 3, 1, 0x62, 0])
    assert.equal(decodeEnvelope(probe, env), true)
    assert.equal(env.kind, EnvelopeKind.PROBE)
  })

  it('matches the byte-level example of docs/cluster.md', () => {
    const message = encodeEnvelope(EnvelopeKind.TO_ENDPOINT, envelopeId('a'), null, encodeData(7, Buffer.from('hello')))
    assert.equal(message.toString('hex'), '0101016100030000000768656c6c6f')
  })

  it('refuses malformed envelopes: every truncation, a wrong version or kind, a probe with a frame', () => {
    const message = encodeEnvelope(EnvelopeKind.TO_ORIGIN, envelopeId('b'), null, encodeWindow(3, 1024))
    const env = new Envelope()
    // Envelope header (5 bytes here) plus the frame's own header: anything shorter is refused.
    // (A frame cut inside its payload is the session decoder's to refuse.)
    for (let n = 0; n < 10; n++) assert.equal(decodeEnvelope(message.subarray(0, n), env), false, `truncated to ${n}`)
    assert.equal(decodeEnvelope(message.subarray(0, 10), env), true)
    assert.equal(decodeEnvelope(Buffer.concat([Buffer.from([2]), message.subarray(1)]), env), false)
    assert.equal(decodeEnvelope(Buffer.concat([Buffer.from([1, 9]), message.subarray(2)]), env), false)
    assert.equal(decodeEnvelope(Buffer.from([1, 3, 1, 0x62, 0, 1, 0, 0, 0, 0]), env), false)
    assert.throws(() => envelopeId('x'.repeat(256)), RangeError)
    // REVOKED names a tunnel and carries no frame.
    assert.equal(decodeEnvelope(encodeEnvelope(EnvelopeKind.REVOKED, envelopeId('b'), envelopeId('t1'), null), env), true)
    assert.equal(env.tunnel, 't1')
    assert.equal(decodeEnvelope(encodeEnvelope(EnvelopeKind.REVOKED, envelopeId('b'), null, null), env), false)
    assert.equal(decodeEnvelope(encodeEnvelope(EnvelopeKind.REVOKED, envelopeId('b'), envelopeId('t1'), encodeWindow(3, 1)), env), false)
    // LEAVING carries 4 bytes: the milliseconds before the sender cuts its relay streams.
    assert.equal(decodeEnvelope(encodeEnvelope(EnvelopeKind.LEAVING, envelopeId('b'), null, Buffer.from([0, 0, 0x07, 0xd0])), env), true)
    assert.equal(env.kind, EnvelopeKind.LEAVING)
    assert.equal(env.frame.readUInt32BE(0), 2000)
    assert.equal(decodeEnvelope(encodeEnvelope(EnvelopeKind.LEAVING, envelopeId('b'), null, null), env), false)
    assert.equal(decodeEnvelope(encodeEnvelope(EnvelopeKind.LEAVING, envelopeId('b'), null, encodeWindow(3, 1)), env), false)
    assert.equal(decodeEnvelope(Buffer.from([1, 6, 1, 0x62, 0, 0, 0, 0, 0]), env), false, 'an unknown kind is dropped')
  })

  it('relay options are checked and the bad one named', () => {
    assert.throws(
      () => resolveRelayOptions({ presenceTtlMs: 0 }),
      (e: Error & { code?: string }) => e.code === 'ADIT_ERR_CONFIG' && e.message.includes('presenceTtlMs'),
    )
    assert.throws(
      () => resolveRelayOptions({ presenceRefreshMs: 20_000 }),
      (e: Error & { code?: string }) => e.code === 'ADIT_ERR_CONFIG' && e.message.includes('presenceRefreshMs'),
    )
  })
})

describe('cross-instance streams over the bus (memory hub)', () => {
  const hub = createMemoryHub()
  let service: LocalService
  let a: RunningServer
  let b: RunningServer
  let tunnel: Tunnel
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('sets up: agent on B, presence says B', async () => {
    service = await startLocalService()
    closers.push(() => service.close())
    a = await instance(hub, 'a')
    closers.push(() => a.close())
    b = await instance(hub, 'b')
    closers.push(() => b.close())
    tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger() })
    closers.push(() => tunnel.close())
    assert.deepEqual(await a.cluster.presence.lookup(tunnel.id), [b.cluster.bus.instanceId])
    assert.equal(a.registry.get(tunnel.id), undefined, 'no agent on A')
  })

  it('a GET on A is served by the agent on B', async () => {
    const res = await request(on(a, tunnel, 'echo?x=1'))
    assert.equal(res.statusCode, 200)
    const body = (await res.body.json()) as { url: string; method: string }
    assert.equal(body.url, '/echo?x=1')
    assert.equal(a.relay!.activeStreams, 0, 'the relay stream is forgotten once both sides ended')
  })

  it('an 8 MiB upload and a 32 MiB download cross intact', async () => {
    const upload = randomBytes(8 * 1024 * 1024)
    const res = await request(on(a, tunnel, 'echo'), { method: 'POST', body: upload })
    const body = (await res.body.json()) as { sha256: string; length: number }
    assert.equal(body.length, upload.length)
    assert.equal(body.sha256, createHash('sha256').update(upload).digest('hex'))
    const size = 32 * 1024 * 1024
    const down = await request(on(a, tunnel, `bytes/${size}`))
    const hash = createHash('sha256')
    let length = 0
    for await (const chunk of down.body) {
      hash.update(chunk as Buffer)
      length += (chunk as Buffer).length
    }
    assert.equal(length, size)
    assert.equal(hash.digest('hex'), patternHash(size))
  })

  it('a paused public reader still gets every byte (credit resumes after the pause)', async () => {
    const size = 16 * 1024 * 1024
    const res = await request(on(a, tunnel, `bytes/${size}`))
    const body = res.body
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve))
    body.pause()
    await new Promise((r) => setTimeout(r, 300))
    const endpointStreams = [...b.registry.connections()].map((c) => c.session.activeStreams).reduce((x, y) => x + y, 0)
    assert.equal(endpointStreams, 1)
    let length = first.length
    body.resume()
    for await (const chunk of body) length += (chunk as Buffer).length
    assert.equal(length, size)
  })

  it('many concurrent requests share the virtual connection', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await request(on(a, tunnel, `bytes/${1000 + i}`))
        return (await res.body.arrayBuffer()).byteLength
      }),
    )
    assert.deepEqual(
      results,
      Array.from({ length: 50 }, (_, i) => 1000 + i),
    )
  })

  it('a public client that goes away mid-download resets the agent stream on B', async () => {
    const res = await request(on(a, tunnel, `bytes/${64 * 1024 * 1024}`))
    await new Promise<void>((resolve) => res.body.once('data', () => resolve()))
    res.body.destroy()
    const deadline = Date.now() + 5000
    const active = (): number => [...b.registry.connections()].reduce((n, c) => n + c.session.activeStreams, 0)
    while (active() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(active(), 0)
    assert.equal(b.relay!.activeStreams, 0)
  })

  it('a public WebSocket on A reaches a WebSocket service behind the agent on B: messages both ways, a 4 MiB binary, close codes', async () => {
    const http = createServer((_req, res) => res.end('plain'))
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 })
    wss.on('connection', (ws, req) => {
      ws.on('message', (data, isBinary) => (!isBinary && data.toString() === 'bye' ? ws.close(4002, 'service says bye') : ws.send(data, { binary: isBinary })))
      ws.send(`hello ${req.url}`)
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const c of wss.clients) c.terminate()
          http.closeAllConnections()
          http.close(() => resolve())
        }),
    )
    const wsTunnel = await connect({
      server: b.url,
      local: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      stateFile: null,
      logger: silentLogger(),
    })
    closers.push(() => wsTunnel.close())
    const ws = new WebSocket(`${a.url.replace('http', 'ws')}/pub/${wsTunnel.id}/socket`, { perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 })
    closers.push(async () => ws.terminate())
    const messages: Array<{ data: Buffer; isBinary: boolean }> = []
    const waiters: Array<() => void> = []
    ws.on('message', (data: Buffer, isBinary) => {
      messages.push({ data, isBinary })
      waiters.shift()?.()
    })
    const next = async (): Promise<{ data: Buffer; isBinary: boolean }> => {
      if (messages.length === 0) await new Promise<void>((resolve) => waiters.push(resolve))
      return messages.shift()!
    }
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    assert.equal((await next()).data.toString(), 'hello /socket')
    for (let i = 0; i < 100; i++) ws.send(`m${i}`)
    for (let i = 0; i < 100; i++) assert.equal((await next()).data.toString(), `m${i}`)
    const big = randomBytes(4 * 1024 * 1024)
    ws.send(big)
    const echoed = await next()
    assert.equal(echoed.isBinary, true)
    assert.ok(echoed.data.equals(big))
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.send('bye')
    assert.equal(await closed, 4002)
  })

  it('an instance that vanished from the bus: 5xx at once, never a hang', async () => {
    const ghost = createMemoryCluster({ instanceId: 'ghost', hub })
    // A presence entry for an instance that is not subscribed (crashed before its TTL ran out).
    await ghost.presence.announce('ghost-tunnel', 'ghost', 60_000)
    const c = await instance(hub, 'c', { holdTimeoutMs: 300 })
    closers.push(() => c.close())
    const started = Date.now()
    const res = await request(`${c.url}/pub/${tunnel.id}/echo`)
    await res.body.text()
    assert.equal(res.statusCode, 200, 'a real holder still serves')
    // Now the only holder is the ghost.
    await c.cluster.store.put({ id: 'ghost-tunnel', createdAt: Date.now(), lastSeenAt: Date.now(), secretGeneration: 0 })
    const lost = await request(`${c.url}/pub/ghost-tunnel/echo`)
    await lost.body.text()
    assert.ok(lost.statusCode >= 500, `status ${lost.statusCode}`)
    assert.ok(Date.now() - started < 5000)
    await ghost.close()
  })
})

describe('an origin instance that vanishes mid-stream', () => {
  const hub = createMemoryHub()
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('the endpoint probes it, finds nobody listening and resets the agent stream it was serving', async () => {
    const service = await startLocalService()
    closers.push(() => service.close())
    const fast = { relay: { probeAfterMs: 200, tickMs: 100 } }
    const origin = await instance(hub, 'origin', fast)
    closers.push(() => origin.close())
    const endpoint = await instance(hub, 'endpoint', fast)
    closers.push(() => endpoint.close())
    const tunnel = await connect({ server: endpoint.url, local: service.url, stateFile: null, logger: silentLogger() })
    closers.push(() => tunnel.close())
    const agentStreams = (): number => [...endpoint.registry.connections()].reduce((n, c) => n + c.session.activeStreams, 0)

    const res = await request(on(origin, tunnel, `bytes/${256 * 1024 * 1024}`))
    await new Promise<void>((resolve) => res.body.once('data', () => resolve()))
    res.body.pause() // the stream stays open, waiting for credit
    closers.push(async () => res.body.destroy())
    assert.equal(agentStreams(), 1)
    assert.equal(endpoint.relay!.activeStreams, 1)

    // The origin's bus goes silent, as when its process is killed.
    await origin.cluster.close()
    const started = Date.now()
    while (agentStreams() > 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 25))
    assert.equal(agentStreams(), 0, 'the agent stream was reset')
    assert.equal(endpoint.relay!.activeStreams, 0)
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
  })
})

describe('trailers across instances (gRPC over the relay)', () => {
  const hub = createMemoryHub()
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('a gRPC call on A served by the agent on B: its request trailers reach the service, its grpc-status and trailing metadata come back', async () => {
    const { grpcCall, h2Session, startGrpcService } = await import('../harness/grpc-wire.js')
    const service = await startGrpcService()
    closers.push(() => service.close())
    const a = await instance(hub, 'a', { h2c: true })
    closers.push(() => a.close())
    const b = await instance(hub, 'b')
    closers.push(() => b.close())
    const tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger() })
    closers.push(() => tunnel.close())
    const session = h2Session(a.url)
    closers.push(async () => session.close())
    assert.equal(a.registry.get(tunnel.id), undefined, 'no agent on A: the call crosses the relay')
    const unary = await grpcCall(session, `/pub/${tunnel.id}/test.Echo/Unary`, {
      messages: [Buffer.from('relayed')],
      metadata: { 'x-echo-trailers': '1' },
      requestTrailers: { 'x-req-sum': '5' },
    })
    assert.deepEqual(
      unary.messages.map((m) => m.toString()),
      ['RELAYED'],
    )
    assert.equal(unary.status, 0, 'grpc-status crossed the relay (it used to be dropped: a plain END)')
    assert.equal(unary.trailers['x-trailer-meta'], 'kept')
    assert.equal(service.events.requestTrailers.at(-1)?.['x-req-sum'], '5')
    assert.equal(unary.trailers['echo-x-req-sum'], '5')
    const failed = await grpcCall(session, `/pub/${tunnel.id}/test.Echo/Fail`, { messages: [Buffer.from('x')] })
    assert.equal(failed.status, 5)
    assert.equal(failed.message, 'no such thing')
  })
})
