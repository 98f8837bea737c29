/**
 * A public WebSocket session relayed between instances: the client on A,
 * the agent on B. When B drains, the session used to run until B's drain
 * deadline and was then cut with B's agent connection and relay: A aborted
 * the client's socket (`1006`, no close frame). Now B tells A it is leaving
 * when its drain closes sessions, and A ends the session as it ends its own
 * at a drain: a close frame 1001 (going away) to the client and one to the
 * service, each at a frame boundary, every message whole.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { WebSocket, WebSocketServer } from 'ws'
import { clusterEnv, redisOrSkip, REDIS_URL, runPrefix, startMember } from '../../harness/cluster.js'
import { startAgentProcess, type AgentProcess, type ServerProcess } from '../../harness/processes.js'
import { tempDir } from '../../harness/temp.js'

const run = await redisOrSkip('relayed WebSocket sessions of a draining instance')

/** Message n: n (u32), its length (u32), then n's low byte; 32–160 KiB, so a drain lands inside frames. */
function message(n: number): Buffer {
  const size = 32 * 1024 + ((n * 7919) % (128 * 1024))
  const buf = Buffer.alloc(size, n & 0xff)
  buf.writeUInt32BE(n, 0)
  buf.writeUInt32BE(size, 4)
  return buf
}

function whole(data: Buffer, n: number): boolean {
  if (data.length < 8 || data.readUInt32BE(0) !== n || data.readUInt32BE(4) !== data.length) return false
  for (let i = 8; i < data.length; i++) if (data[i] !== (n & 0xff)) return false
  return true
}

/** Sends messages while its socket keeps up, checks every one it gets, and records its close code. */
class Side {
  sent = 0
  received = 0
  damaged = 0
  readonly closed: Promise<number>
  constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer) => {
      if (!whole(data, this.received)) this.damaged++
      this.received++
    })
    ws.on('error', () => {})
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)))
    const pump = (): void => {
      if (ws.readyState !== WebSocket.OPEN) return
      // Bounded: at most 2000 messages per side.
      while (ws.bufferedAmount < 256 * 1024 && this.sent < 2000) ws.send(message(this.sent++))
      setTimeout(pump, 10)
    }
    if (ws.readyState === WebSocket.OPEN) pump()
    else ws.once('open', pump)
  }
}

describe('a relayed WebSocket session when the agent’s instance drains', { skip: !run, timeout: 60_000 }, () => {
  const dir = tempDir()
  const sides: Side[] = []
  let http: Server
  let a: ServerProcess
  let b: ServerProcess
  let agent: AgentProcess
  before(async () => {
    http = createServer((_req, res) => res.end('ok'))
    new WebSocketServer({ server: http }).on('connection', (ws) => sides.push(new Side(ws)))
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const env = clusterEnv(REDIS_URL, runPrefix('drain-relayed-ws'), 'drain-relayed-ws-signing-key-0123456789abcdef', {
      ADIT_ALLOW_OPEN_REGISTRATION: 'true',
      ADIT_DRAIN_TIMEOUT: '3s',
    })
    a = await startMember(env)
    b = await startMember(env)
    agent = await startAgentProcess(b.url, `http://127.0.0.1:${(http.address() as AddressInfo).port}`, { stateFile: dir.file('state.json') })
  })
  after(async () => {
    await agent?.stop('SIGKILL')
    await a?.stop('SIGKILL')
    await b?.stop('SIGKILL')
    http?.closeAllConnections()
    await new Promise((resolve) => http?.close(resolve))
    dir.remove()
  })

  it('gets close frames 1001 both ways, at frame boundaries, before B’s drain ends', async (t) => {
    const url = `${a.url.replace('http', 'ws')}${new URL(agent.publicUrl).pathname}`
    const client = await new Promise<Side>((resolve, reject) => {
      const ws = new WebSocket(url)
      ws.once('open', () => resolve(new Side(ws)))
      ws.once('error', reject)
    })
    for (let i = 0; i < 200 && (client.received < 5 || sides[0] === undefined || sides[0].received < 5); i++) await delay(20)
    const service = sides[0]!
    assert.ok(client.received >= 5 && service.received >= 5, 'messages flow both ways through the relay')
    const started = Date.now()
    const exit = b.stop('SIGTERM', 10_000)
    const code = await client.closed
    const after = Date.now() - started
    const serviceCode = await Promise.race([service.closed, delay(5_000).then(() => 0)])
    t.diagnostic(
      `client: ${code} after ${after} ms, ${client.received} messages (${client.damaged} damaged); service: ${serviceCode}, ${service.received} (${service.damaged} damaged)`,
    )
    assert.equal(code, 1001, 'the client gets a close frame 1001 (before the fix: 1006, cut at B’s drain deadline)')
    assert.equal(client.damaged, 0)
    assert.equal(service.damaged, 0)
    assert.equal(serviceCode, 1001, 'the service gets a close frame 1001 too')
    assert.ok(after < 3_000, 'before B’s drain deadline')
    assert.equal(await exit, 0)
  })
})
