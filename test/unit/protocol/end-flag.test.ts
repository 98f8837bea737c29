/**
 * `end-flag`: END folded into OPEN, HEAD and DATA as FLAG_END, between
 * sessions that negotiated it, and the plain END frames for peers that did
 * not (older agents and servers).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeFrame, FrameType, INITIAL_WINDOW, type RequestHead, type Stream } from '../../../src/protocol/index.js'
import { prng, RecordingHandler, sessionPair } from './memory-transport.js'

const GET: RequestHead = { method: 'GET', path: '/', headers: [['host', 'example']], bodyless: true }

function pair(serverEndFlag: boolean, agentEndFlag: boolean) {
  const agentStreams: Array<{ stream: Stream; handler: RecordingHandler }> = []
  const p = sessionPair(
    {
      endFlag: agentEndFlag,
      onStream(stream) {
        const handler = new RecordingHandler()
        agentStreams.push({ stream, handler })
        return handler
      },
    },
    { endFlag: serverEndFlag },
  )
  return { ...p, agentStreams }
}

/** The frames a transport sent, as `TYPE` or `TYPE+END`. */
function frames(log: Buffer[]): string[] {
  return log.map((m) => {
    const f = decodeFrame(m)
    return `${Object.entries(FrameType).find(([, v]) => v === f.type)![0]}${f.end ? '+END' : ''}`
  })
}

describe('end-flag', () => {
  it('a bodiless request is one OPEN+END frame, and the agent sees its end', () => {
    const p = pair(true, true)
    const serverHandler = new RecordingHandler()
    const stream = p.server.openStream(GET, serverHandler)!
    stream.end() // what the proxy still calls when the public request ends: nothing more to send
    assert.deepEqual(frames(p.serverTransport.log), ['OPEN+END'])
    p.pump()
    const agent = p.agentStreams[0]!
    assert.deepEqual(agent.handler.kinds(), ['end'])
    assert.equal(agent.stream.remoteEnded, true)
    agent.stream.sendHead({ status: 204, headers: [] }, true)
    assert.deepEqual(frames(p.agentTransport.log), ['HEAD+END'])
    p.pump()
    assert.deepEqual(serverHandler.kinds(), ['head', 'end'])
    assert.equal(p.server.activeStreams, 0)
    assert.equal(p.agent.activeStreams, 0)
  })

  it('an upgrade is never ended by its OPEN: after the 101 its request side carries the byte stream', () => {
    const p = pair(true, true)
    const stream = p.server.openStream({ ...GET, upgrade: true }, new RecordingHandler())!
    assert.deepEqual(frames(p.serverTransport.log), ['OPEN'])
    p.pump()
    const agent = p.agentStreams[0]!
    assert.equal(agent.stream.remoteEnded, false)
    agent.stream.sendHead({ status: 101, headers: [] })
    p.pump()
    stream.write(Buffer.from('ping'))
    p.pump()
    assert.deepEqual(agent.handler.kinds(), ['data'])
  })

  it('without end-flag (an older agent) the server sends OPEN, then END', () => {
    const p = pair(false, false)
    const stream = p.server.openStream(GET, new RecordingHandler())!
    stream.end()
    assert.deepEqual(frames(p.serverTransport.log), ['OPEN', 'END'])
    p.pump()
    const agent = p.agentStreams[0]!
    agent.stream.sendHead({ status: 204, headers: [] }, true)
    agent.stream.writeLast(Buffer.from('x')) // after the end: ignored
    assert.deepEqual(frames(p.agentTransport.log), ['HEAD', 'END'])
  })

  it("the body's last bytes carry END; a chunk bigger than the credit ends with a plain END once credit comes", () => {
    const p = pair(true, true)
    const serverHandler = new RecordingHandler()
    const stream = p.server.openStream(GET, serverHandler)!
    p.pump()
    const agent = p.agentStreams[0]!.stream
    agent.sendHead({ status: 200, headers: [] })
    agent.writeLast(Buffer.alloc(1000, 1))
    assert.deepEqual(frames(p.agentTransport.log), ['HEAD', 'DATA+END'])
    p.pump()
    assert.deepEqual(serverHandler.kinds(), ['head', 'data', 'end'])
    assert.equal(stream.closed, true)

    const q = pair(true, true)
    const handler = new RecordingHandler()
    const serverStream = q.server.openStream(GET, handler)!
    q.pump()
    const big = q.agentStreams[0]!.stream
    big.sendHead({ status: 200, headers: [] })
    big.writeLast(Buffer.alloc(INITIAL_WINDOW + 10, 2))
    assert.ok(!frames(q.agentTransport.log).some((f) => f.endsWith('+END')), 'no END before the last byte is sent')
    // The server drains what it got; its WINDOW lets the rest go.
    q.deliver('agent')
    serverStream.consumed(INITIAL_WINDOW)
    q.pump()
    assert.equal(handler.received, INITIAL_WINDOW + 10)
    assert.equal(handler.ended, true)
    assert.deepEqual(frames(q.agentTransport.log).slice(-2), ['DATA', 'END'])
  })

  it('chaotic chunking: any mix of chunk sizes, folded or plain ends and delivery batches gives the same bytes and one end', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed)
      const fold = random(2) === 1
      const p = pair(fold, fold)
      const handler = new RecordingHandler()
      const server = p.server.openStream(GET, handler)!
      server.end()
      p.pump()
      const agent = p.agentStreams[0]!.stream
      const bodyless = random(4) === 0
      agent.sendHead({ status: 200, headers: [] }, bodyless)
      const chunks: Buffer[] = []
      if (!bodyless) {
        const count = random(6)
        for (let i = 0; i < count; i++) chunks.push(Buffer.alloc(1 + random(90_000), i + 1))
      }
      const expected = Buffer.concat(chunks)
      let i = 0
      let credited = 0
      const lastViaWriteLast = random(2) === 1
      // Writes interleaved with partial deliveries and credit returned in random amounts.
      for (let rounds = 0; rounds < 10_000 && !(server.closed && handler.ended); rounds++) {
        if (i < chunks.length) {
          const chunk = chunks[i++]!
          if (i === chunks.length && lastViaWriteLast) agent.writeLast(chunk)
          else agent.write(chunk)
          if (i === chunks.length && !lastViaWriteLast) agent.end()
        } else if (i === 0 && !bodyless) {
          agent.end()
        }
        p.deliver('agent', 1 + random(4))
        // The server's destination takes a random part of what arrived; credit goes back for it.
        const owed = handler.received - credited
        const n = rounds > 50 ? owed : random(owed + 1)
        if (n > 0) {
          credited += n
          server.consumed(n)
        }
        p.deliver('server', 1 + random(3))
      }
      assert.ok(handler.ended, `seed ${seed}: the server saw the end`)
      assert.ok(handler.body.equals(expected), `seed ${seed}: ${handler.received} of ${expected.length} bytes`)
      assert.equal(handler.kinds().filter((k) => k === 'end').length, 1, `seed ${seed}: exactly one end`)
      const sent = frames(p.agentTransport.log)
      if (!fold) assert.ok(!sent.some((f) => f.endsWith('+END')), `seed ${seed}: FLAG_END only when negotiated`)
      if (fold && bodyless) assert.deepEqual(sent.slice(-1), ['HEAD+END'], `seed ${seed}`)
      assert.equal(p.agent.activeStreams, 0, `seed ${seed}: the agent forgot the stream`)
    }
  })
})
