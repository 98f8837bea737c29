import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeFrame,
  encodeEnd,
  encodeGoAway,
  encodeHead,
  FrameType,
  GoAwayCode,
  MAX_STREAM_ID,
  ResetCode,
  SessionState,
  StreamState,
  type RequestHead,
  type Stream,
} from '../../../src/protocol/index.js'
import { RecordingHandler, sessionPair } from './memory-transport.js'

const POST: RequestHead = { method: 'POST', path: '/', headers: [] }
const GET: RequestHead = { method: 'GET', path: '/', headers: [], bodyless: true }

function pair(endFlag = false) {
  const agentStreams: Array<{ stream: Stream; handler: RecordingHandler }> = []
  const goAways: Array<{ side: 'server' | 'agent'; code: number; lastStreamId: number }> = []
  const p = sessionPair(
    {
      endFlag,
      onStream(stream) {
        const handler = new RecordingHandler()
        agentStreams.push({ stream, handler })
        return handler
      },
      onGoAway: (code, lastStreamId) => goAways.push({ side: 'agent', code, lastStreamId }),
    },
    { endFlag, onGoAway: (code, lastStreamId) => goAways.push({ side: 'server', code, lastStreamId }) },
  )
  return { ...p, agentStreams, goAways }
}

/** Frame types a transport sent since `from`, as TYPE:streamId. */
function sent(log: Buffer[], from = 0): string[] {
  return log.slice(from).map((f) => {
    const frame = decodeFrame(f)
    const name = Object.entries(FrameType).find(([, v]) => v === frame.type)![0]
    return `${name}:${frame.streamId}`
  })
}

describe('StreamState: the transitions of one stream', () => {
  it('OPEN → LOCAL_ENDED (END sent) → ENDED (END received): released from both sessions', () => {
    const p = pair()
    const server = new RecordingHandler()
    const stream = p.server.openStream(POST, server)!
    assert.equal(stream.state, StreamState.OPEN)
    stream.end()
    assert.equal(stream.state, StreamState.LOCAL_ENDED)
    assert.deepEqual([stream.localEnded, stream.remoteEnded, stream.closed], [true, false, false])
    p.pump()
    const agent = p.agentStreams[0]!.stream
    assert.equal(agent.state, StreamState.REMOTE_ENDED)
    agent.sendHead({ status: 200, headers: [] })
    agent.end()
    assert.equal(agent.state, StreamState.ENDED)
    p.pump()
    assert.equal(stream.state, StreamState.ENDED)
    assert.deepEqual([stream.localEnded, stream.remoteEnded, stream.closed], [true, true, true])
    assert.equal(p.server.activeStreams + p.agent.activeStreams, 0)
  })

  it('OPEN → REMOTE_ENDED (END received) → ENDED (END sent)', () => {
    const p = pair()
    const server = new RecordingHandler()
    const stream = p.server.openStream(POST, server)!
    p.pump()
    const agent = p.agentStreams[0]!.stream
    agent.sendHead({ status: 200, headers: [] })
    agent.end()
    assert.equal(agent.state, StreamState.LOCAL_ENDED)
    p.pump()
    assert.equal(stream.state, StreamState.REMOTE_ENDED)
    assert.equal(stream.write(Buffer.from('still sending')), true, 'the request body may go on after the response ended')
    stream.end()
    assert.equal(stream.state, StreamState.ENDED)
    p.pump()
    assert.equal(agent.state, StreamState.ENDED)
    assert.equal(p.agentStreams[0]!.handler.received, 13)
  })

  it('a bodiless OPEN carrying END leaves the server stream LOCAL_ENDED and the agent stream REMOTE_ENDED', () => {
    const p = pair(true)
    const stream = p.server.openStream(GET, new RecordingHandler())!
    assert.equal(stream.state, StreamState.LOCAL_ENDED)
    stream.end()
    assert.deepEqual(sent(p.serverTransport.log), ['OPEN:1'], 'end() after an OPEN+END sends nothing')
    p.pump()
    assert.equal(p.agentStreams[0]!.stream.state, StreamState.REMOTE_ENDED)
  })

  it('RESET from OPEN, LOCAL_ENDED and REMOTE_ENDED, sent or received; ENDED and RESET are final', () => {
    for (const before of [StreamState.OPEN, StreamState.LOCAL_ENDED, StreamState.REMOTE_ENDED] as const) {
      for (const by of ['local', 'peer'] as const) {
        const p = pair()
        const server = new RecordingHandler()
        const stream = p.server.openStream(POST, server)!
        p.pump()
        const agent = p.agentStreams[0]!
        if (before === StreamState.LOCAL_ENDED) stream.end()
        if (before === StreamState.REMOTE_ENDED) {
          agent.stream.sendHead({ status: 200, headers: [] })
          agent.stream.end()
        }
        p.pump()
        assert.equal(stream.state, before)
        if (by === 'local') stream.reset(ResetCode.CANCEL, 'gone')
        else agent.stream.reset(ResetCode.CANCEL, 'gone')
        p.pump()
        assert.equal(stream.state, StreamState.RESET, `${before} reset by ${by}`)
        assert.equal(stream.closed, true)
        assert.equal(p.server.activeStreams + p.agent.activeStreams, 0)
        // Every call after a final state is ignored: nothing is sent.
        const logged = p.serverTransport.log.length
        assert.equal(stream.write(Buffer.from('x')), false)
        stream.end()
        stream.reset(ResetCode.CANCEL)
        stream.consumed(10)
        assert.equal(p.serverTransport.log.length, logged)
        assert.equal(stream.state, StreamState.RESET)
        assert.equal(server.kinds().filter((k) => k === 'reset').length, by === 'peer' ? 1 : 0)
      }
    }
  })

  it('a second END received is refused: the stream is reset with PROTOCOL_ERROR, the connection lives', () => {
    const p = pair()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    const agent = p.agentStreams[0]!
    p.server.send(encodeEnd(stream.id))
    p.server.send(encodeEnd(stream.id))
    p.pump()
    assert.equal(agent.stream.state, StreamState.RESET)
    assert.deepEqual(agent.handler.kinds(), ['end', 'reset'])
    assert.equal(agent.handler.resetCode, ResetCode.PROTOCOL_ERROR)
    assert.equal(p.agent.streamErrors, 1)
    assert.equal(p.agent.closed, false)
  })

  it('END before the response HEAD, and a second final HEAD, are refused on the server side', () => {
    for (const wrong of ['end-before-head', 'head-twice'] as const) {
      const p = pair()
      const server = new RecordingHandler()
      const stream = p.server.openStream(POST, server)!
      p.pump()
      if (wrong === 'head-twice') p.agent.send(encodeHead(stream.id, { status: 200, headers: [] }))
      p.agent.send(wrong === 'end-before-head' ? encodeEnd(stream.id) : encodeHead(stream.id, { status: 200, headers: [] }))
      p.pump()
      assert.equal(stream.state, StreamState.RESET, wrong)
      assert.equal(server.resetCode, ResetCode.PROTOCOL_ERROR)
      assert.equal(p.server.streamErrors, 1)
    }
  })

  it('after END sent, write, writeLast, sendHead and end send nothing and leave the state as it is', () => {
    const p = pair()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    stream.end()
    const logged = p.serverTransport.log.length
    assert.equal(stream.write(Buffer.from('late')), false)
    stream.writeLast(Buffer.from('late'))
    stream.endWithTrailers([['grpc-status', '0']])
    stream.end()
    assert.equal(p.serverTransport.log.length, logged)
    assert.equal(stream.state, StreamState.LOCAL_ENDED)
  })

  it('connection lost: every open stream goes to RESET with CONNECTION_LOST, once', () => {
    const p = pair()
    const handlers = [new RecordingHandler(), new RecordingHandler()]
    const streams = handlers.map((h) => p.server.openStream(POST, h)!)
    streams[1]!.end()
    p.server.close('gone')
    for (const s of streams) assert.equal(s.state, StreamState.RESET)
    for (const h of handlers) assert.deepEqual(h.kinds(), ['reset'])
    assert.equal(p.server.heldFrames, 0)
    assert.equal(p.server.heavyStreams, 0)
  })

  it('property: any interleaving of ends, resets and END frames keeps the derived flags consistent with the state and the sessions in step', () => {
    const action = fc.constantFrom('serverEnd', 'agentHeadEnd', 'serverReset', 'agentReset', 'deliverServer', 'deliverAgent', 'extraEnd')
    fc.assert(
      fc.property(fc.array(action, { maxLength: 20 }), (actions) => {
        const p = pair()
        const stream = p.server.openStream(POST, new RecordingHandler())!
        p.pump()
        const agent = p.agentStreams[0]!.stream
        for (const a of actions) {
          if (a === 'serverEnd') stream.end()
          else if (a === 'agentHeadEnd') agent.sendHead({ status: 200, headers: [] }, true)
          else if (a === 'serverReset') stream.reset(ResetCode.CANCEL)
          else if (a === 'agentReset') agent.reset(ResetCode.CANCEL)
          else if (a === 'deliverServer') p.deliver('server', 1)
          else if (a === 'deliverAgent') p.deliver('agent', 1)
          else p.server.send(encodeEnd(stream.id))
          for (const s of [stream, agent]) {
            const st = s.state
            assert.equal(s.closed, st === StreamState.ENDED || st === StreamState.RESET)
            assert.equal(s.localEnded, st === StreamState.LOCAL_ENDED || st === StreamState.ENDED)
            assert.equal(s.remoteEnded, st === StreamState.REMOTE_ENDED || st === StreamState.ENDED)
          }
          assert.equal(p.server.activeStreams, stream.closed ? 0 : 1)
          assert.equal(p.agent.activeStreams, agent.closed ? 0 : 1)
        }
        p.pump()
        // Once everything is delivered the two ends agree whether the exchange is over (a hand-made
        // END can make them disagree: that is what it tests, and the agent's reset then tells the server).
        if (!actions.includes('extraEnd')) {
          assert.equal(stream.closed, agent.closed)
          const ended = actions.includes('serverEnd') && actions.includes('agentHeadEnd')
          const reset = actions.includes('serverReset') || actions.includes('agentReset')
          if (ended && !reset) assert.deepEqual([stream.state, agent.state], [StreamState.ENDED, StreamState.ENDED])
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('SessionState: GOAWAY and drain as named states', () => {
  it('server: OPEN → MOVE_REQUESTED (advisory) → GOING_AWAY when the agent says its replacement is up', () => {
    const p = pair()
    assert.equal(p.server.state, SessionState.OPEN)
    p.server.goAway(GoAwayCode.NORMAL, true)
    p.server.goAway(GoAwayCode.NORMAL, true)
    assert.equal(p.server.state, SessionState.MOVE_REQUESTED)
    assert.deepEqual([p.server.moveRequested, p.server.goingAway], [true, false])
    assert.notEqual(p.server.openStream(POST, new RecordingHandler()), null, 'still takes streams')
    p.pump()
    assert.deepEqual(p.goAways, [{ side: 'agent', code: GoAwayCode.NORMAL, lastStreamId: MAX_STREAM_ID }], 'one advisory GOAWAY')
    assert.equal(p.agent.state, SessionState.PEER_LEAVING)
    assert.equal(p.agent.goingAway, true)
    p.agent.goAway(GoAwayCode.NORMAL)
    assert.equal(p.agent.state, SessionState.GOING_AWAY)
    p.pump()
    assert.equal(p.server.state, SessionState.GOING_AWAY, 'answered at once')
    assert.equal(p.server.openStream(POST, new RecordingHandler()), null)
    assert.deepEqual(p.goAways.at(-1), { side: 'agent', code: GoAwayCode.NORMAL, lastStreamId: 1 })
  })

  it('server: OPEN → DRAINING → PEER_LEAVING (agent GOAWAY, not answered, streams still open) → GOING_AWAY', () => {
    const p = pair()
    p.server.drain(GoAwayCode.NORMAL)
    assert.equal(p.server.state, SessionState.DRAINING)
    assert.deepEqual([p.server.moveRequested, p.server.peerGoingAway, p.server.goingAway], [true, false, false])
    p.pump()
    p.agent.goAway(GoAwayCode.NORMAL)
    p.pump()
    assert.equal(p.server.state, SessionState.PEER_LEAVING)
    assert.deepEqual([p.server.moveRequested, p.server.peerGoingAway, p.server.goingAway], [true, true, false])
    // A repeated GOAWAY from the agent is still not answered.
    const logged = p.serverTransport.log.length
    p.agent.send(encodeGoAway(0, GoAwayCode.NORMAL))
    p.pump()
    assert.equal(p.serverTransport.log.length, logged)
    assert.equal(p.server.state, SessionState.PEER_LEAVING)
    assert.notEqual(p.server.openStream(POST, new RecordingHandler()), null)
    p.server.goAway(GoAwayCode.NORMAL)
    assert.equal(p.server.state, SessionState.GOING_AWAY)
    assert.equal(p.server.peerGoingAway, false)
    p.pump()
    assert.deepEqual(p.goAways.at(-1), { side: 'agent', code: GoAwayCode.NORMAL, lastStreamId: 1 })
  })

  it('drain after an advisory GOAWAY sends no second one; drain once going away, or on an agent, is ignored', () => {
    const p = pair()
    p.server.goAway(GoAwayCode.NORMAL, true)
    p.server.drain(GoAwayCode.NORMAL)
    assert.equal(p.server.state, SessionState.DRAINING)
    assert.deepEqual(sent(p.serverTransport.log), ['GOAWAY:0'])
    p.server.goAway(GoAwayCode.NORMAL)
    p.server.drain(GoAwayCode.NORMAL)
    p.server.goAway(GoAwayCode.NORMAL, true)
    assert.equal(p.server.state, SessionState.GOING_AWAY)
    assert.deepEqual(sent(p.serverTransport.log), ['GOAWAY:0', 'GOAWAY:0'])
    p.agent.drain(GoAwayCode.NORMAL)
    assert.equal(p.agent.state, SessionState.OPEN)
    assert.equal(p.agentTransport.log.length, 0)
  })

  it("server: an agent's unprompted GOAWAY (OPEN) is answered at once", () => {
    const p = pair()
    p.agent.goAway(GoAwayCode.NORMAL)
    p.pump()
    assert.equal(p.server.state, SessionState.GOING_AWAY)
    assert.deepEqual(p.goAways, [
      { side: 'server', code: GoAwayCode.NORMAL, lastStreamId: 0 },
      { side: 'agent', code: GoAwayCode.NORMAL, lastStreamId: 0 },
    ])
  })

  it('agent: its own GOAWAY first (OPEN → GOING_AWAY); the server’s answer changes nothing', () => {
    const p = pair()
    p.agent.goAway(GoAwayCode.NORMAL)
    p.agent.goAway(GoAwayCode.NORMAL)
    assert.equal(p.agent.state, SessionState.GOING_AWAY)
    p.pump()
    assert.equal(p.agent.state, SessionState.GOING_AWAY)
    assert.deepEqual(sent(p.agentTransport.log), ['GOAWAY:0'])
  })

  it('close from every state is CLOSED; then nothing changes it and nothing is sent', () => {
    const reach: Record<string, (p: ReturnType<typeof pair>) => void> = {
      OPEN: () => {},
      MOVE_REQUESTED: (p) => p.server.goAway(GoAwayCode.NORMAL, true),
      DRAINING: (p) => p.server.drain(GoAwayCode.NORMAL),
      PEER_LEAVING: (p) => {
        p.server.drain(GoAwayCode.NORMAL)
        p.agent.goAway(GoAwayCode.NORMAL)
        p.pump()
      },
      GOING_AWAY: (p) => p.server.goAway(GoAwayCode.NORMAL),
    }
    for (const [name, go] of Object.entries(reach)) {
      const p = pair()
      go(p)
      assert.equal(p.server.state, SessionState[name as keyof typeof SessionState])
      p.server.close()
      assert.equal(p.server.state, SessionState.CLOSED)
      assert.deepEqual([p.server.closed, p.server.goingAway, p.server.moveRequested], [true, true, false])
      const logged = p.serverTransport.log.length
      p.server.goAway(GoAwayCode.NORMAL)
      p.server.drain(GoAwayCode.NORMAL)
      p.server.receive(encodeGoAway(0, GoAwayCode.NORMAL))
      assert.equal(p.server.state, SessionState.CLOSED)
      assert.equal(p.serverTransport.log.length, logged)
    }
  })
})
