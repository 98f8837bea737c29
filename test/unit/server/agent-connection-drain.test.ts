/**
 * Draining one agent connection (what a server does on SIGTERM, per
 * connection): AgentConnection.startDrain / finishDrain over a real
 * WebSocket pair on 127.0.0.1, the agent's end a real agent-role Session.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { GoAwayCode, MAX_STREAM_ID, Session, SessionState, Subprotocol, type RequestHead, type Stream } from '../../../src/protocol/index.js'
import { wsTransport } from '../../../src/http/ws-transport.js'
import { AgentConnection } from '../../../src/server/agent-connection.js'
import { silentLogger } from '../../../src/observability/logger.js'
import { Arrivals } from './exchange-harness.js'
import { RecordingHandler } from '../protocol/memory-transport.js'

const GET: RequestHead = { method: 'GET', path: '/', headers: [], bodyless: true }

async function connected(t: TestContext, protocol: string) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has(protocol) ? protocol : false) })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve))
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, protocol)
  const goAways = new Arrivals<{ code: number; lastStreamId: number }>()
  const opened = new Arrivals<Stream>()
  const agent = new Session(wsTransport(client, false), {
    role: 'agent',
    onGoAway: (code, lastStreamId) => goAways.push({ code, lastStreamId }),
    onStream: (stream) => {
      opened.push(stream)
      return new RecordingHandler()
    },
  })
  client.on('message', (data: Buffer) => agent.receive(data))
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve())
    client.once('error', reject)
  })
  const connection = new AgentConnection(await accepted, 't', { logger: silentLogger(), heartbeatMs: 60_000, maxJsonBodyBytes: 1 << 20, onClose: () => {} })
  t.after(async () => {
    client.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  })
  return { connection, agent, goAways, opened }
}

describe('AgentConnection: drain', () => {
  it('startDrain asks the agent to move, keeps opening streams after the agent’s GOAWAY, and finishDrain answers it naming the last stream', async (t) => {
    const c = await connected(t, Subprotocol.V2)
    const server = c.connection.session as Session
    c.connection.startDrain()
    assert.equal(server.state, SessionState.DRAINING)
    assert.deepEqual(await c.goAways.nth(0), { code: GoAwayCode.NORMAL, lastStreamId: MAX_STREAM_ID }, 'advisory: 2^32-1')
    c.agent.goAway(GoAwayCode.NORMAL) // its replacement is up
    // The agent's GOAWAY arrives: the server does not answer yet, and keeps opening streams here.
    const state = (): SessionState => server.state
    for (let i = 0; i < 200 && state() !== SessionState.PEER_LEAVING; i++) await new Promise((r) => setTimeout(r, 5))
    assert.equal(state(), SessionState.PEER_LEAVING)
    assert.equal(server.goingAway, false)
    assert.notEqual(server.openStream(GET, new RecordingHandler()), null)
    assert.equal((await c.opened.nth(0)).id, 1, 'the agent got the stream opened meanwhile')
    c.connection.finishDrain()
    assert.equal(state(), SessionState.GOING_AWAY)
    assert.equal(server.openStream(GET, new RecordingHandler()), null)
    assert.deepEqual(await c.goAways.nth(1), { code: GoAwayCode.NORMAL, lastStreamId: 1 }, 'the answer names the last stream it opened')
  })

  it('a JSON v1 connection has no GOAWAY: startDrain simply stops new streams', async (t) => {
    const c = await connected(t, Subprotocol.JSON_V1)
    c.connection.startDrain()
    assert.equal(c.connection.session.goingAway, true)
    assert.equal(c.connection.session.openStream(GET, new RecordingHandler()), null)
  })
})
