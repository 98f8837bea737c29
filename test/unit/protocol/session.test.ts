import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CONNECTION_LOST,
  FrameType,
  GoAwayCode,
  ProtocolErrorCode,
  ResetCode,
  Session,
  decodeFrame,
  decodeReset,
  encodeData,
  encodeEnd,
  encodeHead,
  encodeOpen,
  encodeReset,
  encodeWindow,
  type ProtocolError,
  type RequestHead,
  type Stream,
} from '../../../src/protocol/index.js'
import { RecordingHandler, sessionPair } from './memory-transport.js'

const GET: RequestHead = { method: 'GET', path: '/', headers: [['host', 'example']] }

/** A pair whose agent records every stream the server opens. */
function pairWithAgentStreams() {
  const agentStreams: Array<{ stream: Stream; head: RequestHead; handler: RecordingHandler }> = []
  const errors: ProtocolError[] = []
  const goAways: Array<[number, number]> = []
  const pair = sessionPair(
    {
      onStream(stream, head) {
        const handler = new RecordingHandler()
        agentStreams.push({ stream, head, handler })
        return handler
      },
      onGoAway: (code, lastStreamId) => goAways.push([code, lastStreamId]),
      onProtocolError: (error) => errors.push(error),
    },
    { onProtocolError: (error) => errors.push(error) },
  )
  return { ...pair, agentStreams, errors, goAways }
}

/** The frames (decoded) a transport sent, as `TYPE:stream` strings. */
function sentFrames(log: Buffer[]): string[] {
  return log.map((m) => {
    const f = decodeFrame(m)
    return `${Object.entries(FrameType).find(([, v]) => v === f.type)![0]}:${f.streamId}`
  })
}

describe('Session: a whole exchange', () => {
  it('open, request body, head, response body, end both ways; both sides forget the stream', () => {
    const p = pairWithAgentStreams()
    const serverHandler = new RecordingHandler()
    const stream = p.server.openStream({ ...GET, method: 'POST', requestId: 'r1' }, serverHandler)
    assert.ok(stream)
    assert.equal(stream.id, 1)
    assert.equal(stream.write(Buffer.from('ping')), true)
    stream.end()
    p.pump()

    assert.equal(p.agentStreams.length, 1)
    const agentSide = p.agentStreams[0]!
    assert.deepEqual(agentSide.head, { ...GET, method: 'POST', requestId: 'r1' })
    assert.equal(agentSide.handler.body.toString(), 'ping')
    assert.deepEqual(agentSide.handler.kinds(), ['data', 'end'])

    agentSide.stream.sendHead({ status: 200, headers: [['content-type', 'text/plain']] })
    assert.equal(agentSide.stream.write(Buffer.from('pong')), true)
    agentSide.stream.end()
    p.pump()

    assert.deepEqual(serverHandler.kinds(), ['head', 'data', 'end'])
    assert.equal(serverHandler.body.toString(), 'pong')
    assert.equal(p.server.activeStreams, 0)
    assert.equal(p.agent.activeStreams, 0)
    assert.equal(stream.closed, true)
    assert.equal(stream.bytesSent, 4)
    assert.equal(agentSide.stream.bytesReceived, 4)
    assert.deepEqual(sentFrames(p.serverTransport.log), ['OPEN:1', 'DATA:1', 'END:1'])
    assert.deepEqual(sentFrames(p.agentTransport.log), ['HEAD:1', 'DATA:1', 'END:1'])
    assert.equal(p.errors.length, 0)
  })

  it('stream ids start at 1 and increase; several streams interleave', () => {
    const p = pairWithAgentStreams()
    const handlers = [new RecordingHandler(), new RecordingHandler(), new RecordingHandler()]
    const streams = handlers.map((h) => p.server.openStream(GET, h)!)
    assert.deepEqual(
      streams.map((s) => s.id),
      [1, 2, 3],
    )
    p.pump()
    assert.deepEqual(
      p.agentStreams.map((s) => s.stream.id),
      [1, 2, 3],
    )
    for (const { stream } of [...p.agentStreams].reverse()) {
      p.agent.send(encodeHead(stream.id, { status: 200 + stream.id, headers: [] }))
      stream.write(Buffer.from(`body ${stream.id}`))
    }
    p.pump()
    handlers.forEach((h, i) => {
      assert.deepEqual(h.events[0], { kind: 'head', status: 201 + i, headers: [] })
      assert.equal(h.body.toString(), `body ${i + 1}`)
    })
    assert.equal(p.server.activeStreams, 3)
  })

  it('an upgrade stream is a raw two-way byte stream after HEAD 101', () => {
    const p = pairWithAgentStreams()
    const serverHandler = new RecordingHandler()
    const stream = p.server.openStream(
      {
        ...GET,
        headers: [
          ['upgrade', 'websocket'],
          ['connection', 'Upgrade'],
        ],
        upgrade: true,
      },
      serverHandler,
    )!
    p.pump()
    const agentSide = p.agentStreams[0]!
    assert.equal(agentSide.head.upgrade, true)
    p.agent.send(encodeHead(stream.id, { status: 101, headers: [['upgrade', 'websocket']] }))
    p.pump()
    for (let i = 0; i < 3; i++) {
      stream.write(Buffer.from(`c${i}`))
      agentSide.stream.write(Buffer.from(`s${i}`))
      p.pump()
    }
    assert.equal(agentSide.handler.body.toString(), 'c0c1c2')
    assert.equal(serverHandler.body.toString(), 's0s1s2')
    assert.equal(serverHandler.events[0]!.kind === 'head' && serverHandler.events[0]!.status, 101)
    stream.end()
    agentSide.stream.end()
    p.pump()
    assert.equal(serverHandler.ended && agentSide.handler.ended, true)
    assert.equal(p.server.activeStreams + p.agent.activeStreams, 0)
  })
})

describe('Session: RESET', () => {
  it('server reset reaches the agent handler with code and reason; both forget the stream', () => {
    const p = pairWithAgentStreams()
    const serverHandler = new RecordingHandler()
    const stream = p.server.openStream(GET, serverHandler)!
    p.pump()
    stream.reset(ResetCode.CANCEL, 'client went away')
    assert.equal(p.server.activeStreams, 0)
    p.pump()
    assert.deepEqual(p.agentStreams[0]!.handler.events, [{ kind: 'reset', code: ResetCode.CANCEL, reason: 'client went away' }])
    assert.equal(p.agent.activeStreams, 0)
    assert.deepEqual(serverHandler.events, [], 'the side that resets is not told')
    // Writes after a reset are refused and send nothing.
    assert.equal(stream.write(Buffer.from('x')), false)
    stream.end()
    stream.reset(ResetCode.CANCEL)
    assert.deepEqual(sentFrames(p.serverTransport.log), ['OPEN:1', 'RESET:1'])
  })

  it('agent reset reaches the server handler', () => {
    const p = pairWithAgentStreams()
    const serverHandler = new RecordingHandler()
    p.server.openStream(GET, serverHandler)
    p.pump()
    const agentStream = p.agentStreams[0]!.stream
    agentStream.reset(ResetCode.LOCAL_UNREACHABLE, 'ECONNREFUSED')
    agentStream.sendHead({ status: 200, headers: [] })
    assert.deepEqual(sentFrames(p.agentTransport.log), ['RESET:1'], 'no HEAD after a reset')
    p.pump()
    assert.deepEqual(serverHandler.events, [{ kind: 'reset', code: ResetCode.LOCAL_UNREACHABLE, reason: 'ECONNREFUSED' }])
    assert.equal(p.server.activeStreams + p.agent.activeStreams, 0)
  })

  it('frames that cross a RESET on the wire are dropped and counted', () => {
    const p = pairWithAgentStreams()
    const stream = p.server.openStream(GET, new RecordingHandler())!
    p.pump()
    const agentSide = p.agentStreams[0]!
    p.agent.send(encodeHead(1, { status: 200, headers: [] }))
    agentSide.stream.write(Buffer.from('late'))
    stream.reset(ResetCode.TIMEOUT)
    p.pump()
    assert.equal(p.server.droppedFrames, 2)
    assert.equal(agentSide.handler.resetCode, ResetCode.TIMEOUT)
  })
})

describe('Session: stream errors reset only the stream', () => {
  /** Server opens stream 1 and the agent sees it; returns the server's handler. */
  function opened(headFirst: boolean) {
    const p = pairWithAgentStreams()
    const handler = new RecordingHandler()
    const stream = p.server.openStream(GET, handler)!
    p.pump()
    if (headFirst) p.server.receive(encodeHead(1, { status: 200, headers: [] }))
    p.serverTransport.take()
    return { p, handler, stream }
  }

  /** Asserts the server answered with RESET PROTOCOL_ERROR on stream 1 and told its handler. */
  function assertStreamError(p: ReturnType<typeof pairWithAgentStreams>, handler: RecordingHandler): void {
    const frames = p.serverTransport.take().map(decodeFrame)
    assert.equal(frames.length, 1)
    assert.equal(frames[0]!.type, FrameType.RESET)
    assert.equal(decodeReset(frames[0]!.payload).code, ResetCode.PROTOCOL_ERROR)
    assert.equal(handler.resetCode, ResetCode.PROTOCOL_ERROR)
    assert.equal(p.server.streamErrors, 1)
    assert.equal(p.server.activeStreams, 0)
    assert.equal(p.errors.length, 0, 'a stream error is not a connection error')
    assert.equal(p.server.closed, false)
  }

  it('DATA before HEAD', () => {
    const { p, handler } = opened(false)
    p.server.receive(encodeData(1, Buffer.from('x')))
    assertStreamError(p, handler)
  })

  it('interim 1xx heads before the final HEAD are delivered and do not count as the head; DATA after only a 1xx is still DATA before HEAD', () => {
    const { p, handler } = opened(false)
    p.server.receive(encodeHead(1, { status: 100, headers: [] }))
    p.server.receive(encodeHead(1, { status: 103, headers: [['link', '</a.css>; rel=preload']] }))
    p.server.receive(encodeHead(1, { status: 200, headers: [] }))
    assert.deepEqual(
      handler.events.map((e) => (e.kind === 'head' ? e.status : e.kind)),
      [100, 103, 200],
    )
    assert.equal(p.server.streamErrors, 0)
    const lone = opened(false)
    lone.p.server.receive(encodeHead(1, { status: 102, headers: [] }))
    lone.p.server.receive(encodeData(1, Buffer.from('x')))
    assertStreamError(lone.p, lone.handler)
  })

  it('END before HEAD', () => {
    const { p, handler } = opened(false)
    p.server.receive(encodeEnd(1))
    assertStreamError(p, handler)
  })

  it('HEAD twice', () => {
    const { p, handler } = opened(true)
    p.server.receive(encodeHead(1, { status: 200, headers: [] }))
    assertStreamError(p, handler)
  })

  it('END twice', () => {
    const { p, handler } = opened(true)
    p.server.receive(encodeEnd(1))
    assert.equal(handler.ended, true)
    p.server.receive(encodeEnd(1))
    assertStreamError(p, handler)
  })

  it('DATA after END', () => {
    const { p, handler } = opened(true)
    p.server.receive(encodeEnd(1))
    p.server.receive(encodeData(1, Buffer.from('x')))
    assertStreamError(p, handler)
  })

  it('WINDOW of 0, or one that takes the window past 2^31-1', () => {
    for (const increment of [0, 0x7fff_ffff]) {
      const { p, handler } = opened(true)
      p.server.receive(encodeWindow(1, increment))
      assertStreamError(p, handler)
    }
  })

  it('HEAD sent to the agent', () => {
    const p = pairWithAgentStreams()
    p.server.openStream(GET, new RecordingHandler())
    p.pump()
    p.agent.receive(encodeHead(1, { status: 200, headers: [] }))
    assert.equal(p.agentStreams[0]!.handler.resetCode, ResetCode.PROTOCOL_ERROR)
    assert.equal(p.agent.streamErrors, 1)
    assert.deepEqual(sentFrames(p.agentTransport.log), ['RESET:1'])
  })

  it('the other streams of the connection carry on', () => {
    const { p, handler } = opened(false)
    const other = new RecordingHandler()
    p.server.openStream(GET, other)
    p.pump()
    p.server.receive(encodeData(1, Buffer.from('x')))
    assert.equal(handler.resetCode, ResetCode.PROTOCOL_ERROR)
    p.agent.send(encodeHead(2, { status: 204, headers: [] }))
    p.agentStreams[1]!.stream.end()
    p.pump()
    assert.deepEqual(other.kinds(), ['head', 'end'])
  })
})

describe('Session: connection errors go to onProtocolError', () => {
  const cases: Array<[string, Buffer, ProtocolErrorCode, 'server' | 'agent']> = [
    ['truncated frame', Buffer.from([3, 0, 0]), ProtocolErrorCode.FRAME_TOO_SHORT, 'server'],
    ['unknown frame type', Buffer.from([0x09, 0, 0, 0, 1]), ProtocolErrorCode.UNKNOWN_FRAME_TYPE, 'agent'],
    ['OPEN with a bad head', Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), Buffer.from('{"method":"GET"}')]), ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'agent'],
    ['HEAD with a bad head', Buffer.concat([Buffer.from([2, 0, 0, 0, 1]), Buffer.from('not json')]), ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'server'],
    ['RESET too short', Buffer.from([5, 0, 0, 0, 1, 0, 0]), ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'server'],
    ['WINDOW too long', Buffer.from([6, 0, 0, 0, 1, 0, 0, 0, 0, 1]), ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'server'],
    ['WINDOW too short for an unknown stream', Buffer.from([6, 0, 0, 0, 99, 1]), ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'server'],
    ['GOAWAY too short', Buffer.from([7, 0, 0, 0, 0, 0, 0, 0, 1]), ProtocolErrorCode.BAD_FRAME_PAYLOAD, 'agent'],
    ['GOAWAY on a stream other than 0', Buffer.concat([Buffer.from([0x07, 0, 0, 0, 1]), Buffer.alloc(8)]), ProtocolErrorCode.STREAM_ID, 'agent'],
    ['OPEN sent to the server', encodeOpen(1, GET), ProtocolErrorCode.STREAM_STATE, 'server'],
    ['OPEN on stream 0', encodeOpen(0, GET), ProtocolErrorCode.STREAM_ID, 'agent'],
  ]
  for (const [name, message, code, side] of cases) {
    it(`${name} → ${code}`, () => {
      const p = pairWithAgentStreams()
      p.server.openStream(GET, new RecordingHandler())
      p.pump()
      p[side].receive(message)
      assert.deepEqual(
        p.errors.map((e) => e.code),
        [code],
      )
      // The session reports; its owner closes the WebSocket (1002). Nothing was sent back.
      assert.equal(p[side === 'server' ? 'serverTransport' : 'agentTransport'].outbox.length, 0)
    })
  }

  it('OPEN reusing a stream id, or going backwards, is STREAM_ID', () => {
    const p = pairWithAgentStreams()
    p.agent.receive(encodeOpen(5, GET))
    p.agent.receive(encodeOpen(5, GET))
    p.agent.receive(encodeOpen(3, GET))
    assert.deepEqual(
      p.errors.map((e) => e.code),
      [ProtocolErrorCode.STREAM_ID, ProtocolErrorCode.STREAM_ID],
    )
    assert.equal(p.agentStreams.length, 1)
    // An id that was used and finished is still refused.
    p.agentStreams[0]!.stream.reset(ResetCode.CANCEL)
    p.agent.receive(encodeOpen(5, GET))
    assert.equal(p.errors.length, 3)
    p.agent.receive(encodeOpen(6, GET))
    assert.equal(p.agentStreams.length, 2)
  })

  it('a non-protocol exception from a handler is not swallowed', () => {
    const p = sessionPair({
      onStream: () => {
        throw new TypeError('handler bug')
      },
    })
    assert.throws(() => p.agent.receive(encodeOpen(1, GET)), TypeError)
  })
})

describe('Session: unknown streams', () => {
  it('frames for streams the session never had are dropped and counted, not answered', () => {
    const p = pairWithAgentStreams()
    p.server.receive(encodeHead(42, { status: 200, headers: [] }))
    p.server.receive(encodeData(42, Buffer.from('x')))
    p.server.receive(encodeEnd(42))
    p.server.receive(encodeReset(42, ResetCode.CANCEL))
    p.server.receive(encodeWindow(42, 10))
    p.agent.receive(encodeData(0, Buffer.from('x')))
    assert.equal(p.server.droppedFrames, 5)
    assert.equal(p.agent.droppedFrames, 1)
    assert.equal(p.errors.length, 0)
    assert.equal(p.serverTransport.outbox.length + p.agentTransport.outbox.length, 0)
  })
})

describe('Session: GOAWAY', () => {
  it('the server stops opening streams, the agent is told, streams in flight finish', () => {
    const p = pairWithAgentStreams()
    const handlers = [new RecordingHandler(), new RecordingHandler()]
    for (const h of handlers) p.server.openStream(GET, h)
    p.server.goAway(GoAwayCode.NORMAL)
    p.server.goAway(GoAwayCode.REVOKED)
    assert.equal(p.server.goingAway, true)
    assert.equal(p.server.openStream(GET, new RecordingHandler()), null)
    p.pump()
    assert.deepEqual(p.goAways, [[GoAwayCode.NORMAL, 2]])
    assert.equal(p.agent.goingAway, true)
    assert.deepEqual(sentFrames(p.serverTransport.log), ['OPEN:1', 'OPEN:2', 'GOAWAY:0'])
    for (const { stream } of p.agentStreams) {
      p.agent.send(encodeHead(stream.id, { status: 200, headers: [] }))
      stream.end()
    }
    p.pump()
    assert.deepEqual(
      handlers.map((h) => h.ended),
      [true, true],
    )
  })

  it("an agent's GOAWAY (draining) stops new streams and the server answers with the last stream it opened", () => {
    const p = pairWithAgentStreams()
    const h = new RecordingHandler()
    p.server.openStream(GET, h)
    p.pump()
    p.agent.goAway(GoAwayCode.NORMAL)
    assert.equal(p.agent.goingAway, true)
    p.pump()
    assert.equal(p.server.goingAway, true)
    assert.equal(p.server.openStream(GET, new RecordingHandler()), null)
    assert.deepEqual(p.goAways, [[GoAwayCode.NORMAL, 1]], 'the server acknowledged with last stream id 1')
    assert.deepEqual(sentFrames(p.agentTransport.log), ['GOAWAY:0'])
    // The stream the agent already had still completes.
    const { stream } = p.agentStreams[0]!
    stream.sendHead({ status: 200, headers: [] })
    stream.end()
    p.pump()
    assert.equal(h.ended, true)
  })

  it('a draining server defers its answer: it keeps opening streams until it sends the final GOAWAY', () => {
    const p = pairWithAgentStreams()
    const server = p.server
    server.drain(GoAwayCode.NORMAL)
    p.pump()
    assert.deepEqual(p.goAways, [[GoAwayCode.NORMAL, 0xffff_ffff]], 'advisory: last stream id 2^32-1')
    p.agent.goAway(GoAwayCode.NORMAL)
    p.pump()
    assert.equal(server.peerGoingAway, true)
    assert.equal(p.server.goingAway, false, 'not answered yet')
    assert.notEqual(p.server.openStream(GET, new RecordingHandler()), null, 'still takes streams')
    p.server.goAway(GoAwayCode.NORMAL)
    p.pump()
    assert.equal(p.server.openStream(GET, new RecordingHandler()), null)
    assert.deepEqual(p.goAways.at(-1), [GoAwayCode.NORMAL, 1], 'the final answer names the stream opened meanwhile')
    assert.equal(p.agentStreams.length, 1)
  })

  it('a GOAWAY before any stream names last stream id 0', () => {
    const p = pairWithAgentStreams()
    p.server.goAway(GoAwayCode.REVOKED)
    p.pump()
    assert.deepEqual(p.goAways, [[GoAwayCode.REVOKED, 0]])
  })
})

describe('Session: roles and close', () => {
  it('an agent cannot open streams; an agent with no onStream refuses them', () => {
    const p = sessionPair()
    assert.equal(p.agent.openStream(GET, new RecordingHandler()), null)
    const handler = new RecordingHandler()
    p.server.openStream(GET, handler)
    p.pump()
    assert.equal(handler.resetCode, ResetCode.REFUSED)
    assert.equal(p.agent.activeStreams + p.server.activeStreams, 0)
  })

  it('close resets every open stream locally with CONNECTION_LOST and then ignores everything', () => {
    const p = pairWithAgentStreams()
    const handlers = [new RecordingHandler(), new RecordingHandler()]
    for (const h of handlers) p.server.openStream(GET, h)
    p.pump()
    p.server.close('socket closed')
    p.server.close()
    for (const h of handlers) assert.deepEqual(h.events, [{ kind: 'reset', code: CONNECTION_LOST, reason: 'socket closed' }])
    assert.equal(p.server.activeStreams, 0)
    assert.equal(p.server.openStream(GET, new RecordingHandler()), null)
    const sent = p.serverTransport.log.length
    p.server.goAway(GoAwayCode.NORMAL)
    p.server.receive(encodeHead(1, { status: 200, headers: [] }))
    p.server.receive(Buffer.alloc(1))
    assert.equal(p.serverTransport.log.length, sent)
    assert.equal(p.errors.length, 0)
  })
})

describe('Session: an OPEN carries its route', () => {
  it('openStream(head, handler, route) hands the route to the transport with the OPEN only; receive(message, route) hands it to onStream', () => {
    const sent: Array<{ type: number; route: Buffer | undefined }> = []
    const server = new Session(
      {
        bufferedAmount: 0,
        send: (frame, _onSent, route) => sent.push({ type: (frame as Buffer)[0]!, route }),
      },
      { role: 'server' },
    )
    const route = Buffer.from('tunnel-a')
    const stream = server.openStream(GET, new RecordingHandler(), route)!
    stream.write(Buffer.from('body'))
    stream.end()
    assert.deepEqual(
      sent.map((s) => [s.type, s.route?.toString()]),
      [
        [FrameType.OPEN, 'tunnel-a'],
        [FrameType.DATA, undefined],
        [FrameType.END, undefined],
      ],
    )
    const routes: Array<string | undefined> = []
    const agent = new Session(
      { bufferedAmount: 0, send: () => {} },
      {
        role: 'agent',
        onStream: (_stream, _head, r) => {
          routes.push(r)
          return new RecordingHandler()
        },
      },
    )
    agent.receive(encodeOpen(1, GET), 'tunnel-a')
    agent.receive(encodeOpen(2, GET))
    assert.deepEqual(routes, ['tunnel-a', undefined])
  })
})
