/**
 * Public WebSocket sessions through an instance that drains (Cloud Run's
 * SIGTERM before a scale-in or a new revision). They used to run until the
 * drain's deadline and were then cut with the agent's connection, in the
 * middle of whatever frame was on its way: the browser saw `1006` and maybe
 * half a message. Now the server closes each one still open near the end of
 * the drain (here 1 s before it) with a close frame 1001 (going away), to
 * the client and to the service, each at a frame boundary, so both sides see
 * every message whole and a clean close, and the client reconnects elsewhere.
 *
 * And an upgrade refused before its 101 — relayed to an instance whose agent
 * connection is going away — is opened again elsewhere, as a plain request
 * is, instead of answered `502`.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { connect, type Tunnel } from '../../../src/agent/tunnel.js'
import { createMemoryCluster, createMemoryHub } from '../../../src/cluster/memory.js'
import { silentLogger } from '../../../src/observability/logger.js'
import { startServer, type RunningServer } from '../../../src/server/server.js'
import { startTcpBalancer, type TcpBalancer } from '../../harness/tcp-balancer.js'

const signingKeys = [randomBytes(32).toString('base64')]

/** A message: sequence number, length, then the sequence number's low byte repeated; checked whole on arrival. */
function message(seq: number): Buffer {
  const size = 64 * 1024 + ((seq * 7919) % (192 * 1024))
  const buf = Buffer.alloc(size, seq & 0xff)
  buf.writeUInt32BE(seq, 0)
  buf.writeUInt32BE(size, 4)
  return buf
}

/** Null when `data` is message `expected`, else what is wrong with it. */
function wrong(data: Buffer, expected: number): string | null {
  if (data.length < 8) return `message ${expected}: ${data.length} bytes`
  const seq = data.readUInt32BE(0)
  if (seq !== expected) return `message ${expected}: got number ${seq}`
  if (data.readUInt32BE(4) !== data.length) return `message ${seq}: ${data.length} bytes of ${data.readUInt32BE(4)}`
  for (let i = 8; i < data.length; i++) if (data[i] !== (seq & 0xff)) return `message ${seq}: byte ${i} differs`
  return null
}

/** One side of a session: sends messages as fast as the socket takes them, checks every one it gets. */
class Side {
  sent = 0
  received = 0
  readonly problems: string[] = []
  closeCode: number | undefined
  readonly closed: Promise<number>

  constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer) => {
      const problem = wrong(data, this.received)
      if (problem !== null) this.problems.push(problem)
      this.received++
    })
    ws.on('error', (error) => this.problems.push(`error: ${error.message}`))
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code
        resolve(code)
      }),
    )
    const pump = (): void => {
      if (ws.readyState !== WebSocket.OPEN) return
      while (ws.bufferedAmount < 512 * 1024) ws.send(message(this.sent++))
      setTimeout(pump, 5)
    }
    if (ws.readyState === WebSocket.OPEN) pump()
    else ws.once('open', pump)
  }
}

interface WsService {
  url: string
  sides: Side[]
  close(): Promise<void>
}

async function startWsService(): Promise<WsService> {
  // `/slow` never answers (it keeps a drain going); anything else is `ok`.
  const http: Server = createServer((req, res) => {
    if (!(req.url ?? '').startsWith('/slow')) res.end('ok')
  })
  const wss = new WebSocketServer({ server: http })
  const sides: Side[] = []
  wss.on('connection', (ws) => sides.push(new Side(ws)))
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    sides,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

function openClient(url: string): Promise<Side> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve(new Side(ws)))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => reject(new Error(`upgrade answered ${res.statusCode}: ${body.trim()}`)))
    })
    ws.once('error', reject)
  })
}

describe('public WebSocket sessions on a draining server', () => {
  let service: WsService
  let server: RunningServer
  let tunnel: Tunnel
  before(async () => {
    service = await startWsService()
    server = await startServer({ host: '127.0.0.1', port: 0, signingKeys, logger: silentLogger(), drainTimeoutMs: 4_000 })
    tunnel = await connect({ server: server.url, local: service.url, stateFile: null, logger: silentLogger(), reconnectBaseMs: 50, reconnectMaxMs: 200 })
  })
  after(async () => {
    await server.close()
    await tunnel.close()
    await service.close()
  })

  it('are closed with 1001 at a frame boundary both ways: every message whole on both sides', async (t) => {
    const url = `${server.url.replace('http', 'ws')}/pub/${tunnel.id}/`
    const clients = await Promise.all([openClient(url), openClient(url), openClient(url)])
    // Messages of 64–256 KiB both ways, all the time: the drain lands inside frames in flight.
    while (clients.some((c) => c.received < 5) || service.sides.some((s) => s.received < 5)) await delay(20)
    const closing = server.close()
    const codes = await Promise.all(clients.map((c) => c.closed))
    const serviceCodes = await Promise.all(service.sides.map((s) => s.closed))
    await closing
    for (const side of [...clients, ...service.sides]) assert.deepEqual(side.problems, [], 'no message cut or damaged')
    assert.deepEqual(codes, [1001, 1001, 1001], 'each client got a close frame 1001 (before the fix: 1006, the connection cut)')
    assert.deepEqual(serviceCodes, [1001, 1001, 1001], 'the service got a close frame 1001 from the "client" too')
    t.diagnostic(`messages received whole: clients ${clients.map((c) => c.received).join('/')}, service ${service.sides.map((s) => s.received).join('/')}`)
  })
})

describe('a WebSocket upgrade refused before its 101 by a draining instance', () => {
  const hub = createMemoryHub()
  const closers: Array<() => Promise<unknown>> = []
  let service: WsService
  let a: RunningServer
  let b: RunningServer
  let balancer: TcpBalancer
  let tunnel: Tunnel
  before(async () => {
    service = await startWsService()
    closers.push(() => service.close())
    const member = (name: string): Promise<RunningServer> =>
      startServer({
        host: '127.0.0.1',
        port: 0,
        signingKeys,
        cluster: createMemoryCluster({ instanceId: `${name}-${randomBytes(3).toString('hex')}`, hub }),
        logger: silentLogger(),
        holdTimeoutMs: 5_000,
        drainTimeoutMs: 6_000,
      })
    b = await member('b')
    closers.push(() => b.close())
    a = await member('a')
    closers.push(() => a.close())
    // The agent reaches B only, until the test adds A: while B drains, its replacement has nowhere to go.
    balancer = await startTcpBalancer([b.port])
    closers.push(() => balancer.close())
    tunnel = await connect({ server: balancer.url, local: service.url, stateFile: null, logger: silentLogger(), reconnectBaseMs: 50, reconnectMaxMs: 200 })
    closers.push(() => tunnel.close())
  })
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('is opened again once the agent is back elsewhere, not answered 502', async () => {
    const url = `${a.url.replace('http', 'ws')}/pub/${tunnel.id}/`
    // Relayed through A to B first.
    const warm = await openClient(url)
    warm.ws.close(1000)
    await warm.closed
    // A plain request on B keeps B's drain going past its public-socket phase, where it refuses new streams.
    const slow = request(`${b.url}/pub/${tunnel.id}/slow`, { headersTimeout: 20_000 }).catch(() => undefined)
    await delay(200)
    const draining = b.close()
    await delay(2_000)
    const opening = openClient(url)
    // The agent finds A a moment later.
    await delay(300)
    balancer.backends.push(a.port)
    const client = await opening
    while (client.received < 3) await delay(20)
    assert.deepEqual(client.problems, [])
    client.ws.close(1000)
    await client.closed
    void slow
    await draining
  })
})
