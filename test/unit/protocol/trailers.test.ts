/**
 * `trailers`: a body may end with a TRAILERS frame (trailer fields + END)
 * between sessions that negotiated it; a peer that did not gets a plain END,
 * since it could not decode the frame (an older agent or server).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeFrame, encodeTrailers, FrameType, ResetCode, type Stream } from '../../../src/protocol/index.js'
import { RecordingHandler, sessionPair } from './memory-transport.js'

const POST = { method: 'POST', path: '/rpc', headers: [['content-type', 'application/grpc']] as Array<[string, string]> }
const GRPC_OK: Array<[string, string]> = [
  ['grpc-status', '0'],
  ['x-custom', 'a'],
  ['x-custom', 'b'],
]

function pair(serverTrailers: boolean, agentTrailers: boolean, windowed = false) {
  const agentStreams: Array<{ stream: Stream; handler: RecordingHandler }> = []
  const p = sessionPair(
    {
      trailers: agentTrailers,
      onStream(stream) {
        const handler = new RecordingHandler()
        agentStreams.push({ stream, handler })
        return handler
      },
    },
    { trailers: serverTrailers },
    windowed ? { accountsBuffer: true } : {},
  )
  return { ...p, agentStreams }
}

function types(log: Buffer[]): number[] {
  return log.map((m) => decodeFrame(m).type)
}

describe('trailers', () => {
  it('carries request trailers to the agent and response trailers to the server, each as the END of its body', () => {
    const p = pair(true, true)
    const server = new RecordingHandler()
    const stream = p.server.openStream(POST, server)!
    stream.write(Buffer.from('ping'))
    stream.endWithTrailers([['x-checksum', 'abc']])
    p.pump()
    const agent = p.agentStreams[0]!
    assert.deepEqual(agent.handler.kinds(), ['data', 'trailers', 'end'])
    assert.deepEqual(agent.handler.trailers, [['x-checksum', 'abc']])
    agent.stream.sendHead({ status: 200, headers: [['content-type', 'application/grpc']] })
    agent.stream.write(Buffer.from('pong'))
    agent.stream.endWithTrailers(GRPC_OK)
    assert.deepEqual(types(p.agentTransport.log), [FrameType.HEAD, FrameType.DATA, FrameType.TRAILERS])
    p.pump()
    assert.deepEqual(server.kinds(), ['head', 'data', 'trailers', 'end'])
    assert.deepEqual(server.trailers, GRPC_OK)
    assert.equal(p.server.activeStreams, 0)
    assert.equal(p.agent.activeStreams, 0)
  })

  it('to a peer that did not negotiate trailers, sends a plain END and drops the fields', () => {
    const p = pair(false, true)
    const stream = p.server.openStream(POST, new RecordingHandler())!
    stream.endWithTrailers([['x-checksum', 'abc']])
    assert.deepEqual(types(p.serverTransport.log), [FrameType.OPEN, FrameType.END])
    p.pump()
    assert.deepEqual(p.agentStreams[0]!.handler.kinds(), ['end'])
  })

  it('a stream told by its peer that it takes TRAILERS (allowTrailers: a relay link) sends them on a connection that negotiated none', () => {
    const p = pair(false, false)
    const server = new RecordingHandler()
    p.server.openStream({ ...POST, trailers: true }, server)
    p.pump()
    const agent = p.agentStreams[0]!
    agent.stream.sendHead({ status: 200, headers: [] })
    agent.stream.allowTrailers()
    agent.stream.endWithTrailers(GRPC_OK)
    p.pump()
    assert.deepEqual(server.trailers, GRPC_OK)
    assert.equal(types(p.agentTransport.log).at(-1), FrameType.TRAILERS)
  })

  it('no fields: a plain END even when negotiated', () => {
    const p = pair(true, true)
    p.server.openStream(POST, new RecordingHandler())!.endWithTrailers([])
    assert.deepEqual(types(p.serverTransport.log), [FrameType.OPEN, FrameType.END])
  })

  it('trailers wait behind body bytes that wait for credit', () => {
    const p = pair(true, true)
    const server = new RecordingHandler()
    const stream = p.server.openStream(POST, server)!
    p.pump()
    const agent = p.agentStreams[0]!
    agent.stream.sendHead({ status: 200, headers: [] })
    const body = Buffer.alloc(300 * 1024, 7) // past the 256 KiB initial window
    assert.equal(agent.stream.write(body), false)
    agent.stream.endWithTrailers(GRPC_OK)
    assert.ok(!types(p.agentTransport.log).includes(FrameType.TRAILERS), 'TRAILERS overtook the body')
    p.deliver('agent')
    stream.consumed(server.received)
    p.pump()
    stream.consumed(server.received)
    p.pump()
    assert.equal(server.received, body.length)
    assert.deepEqual(server.kinds().slice(-2), ['trailers', 'end'])
    assert.equal(types(p.agentTransport.log).at(-1), FrameType.TRAILERS)
  })

  it('TRAILERS before HEAD, or after END, is a stream error (RESET PROTOCOL_ERROR), not a connection error', () => {
    for (const order of ['before-head', 'after-end'] as const) {
      const p = pair(true, true)
      const server = new RecordingHandler()
      p.server.openStream(POST, server)
      const other = new RecordingHandler()
      p.server.openStream(POST, other)
      p.pump()
      const agent = p.agentStreams[0]!
      if (order === 'after-end') {
        agent.stream.sendHead({ status: 200, headers: [] })
        agent.stream.end()
        // A hostile agent: a TRAILERS after its END, written by hand (its own stream refuses to send one).
        p.agent.send(encodeTrailers(agent.stream.id, GRPC_OK))
      } else {
        agent.stream.endWithTrailers(GRPC_OK)
      }
      p.pump()
      assert.equal(server.resetCode, ResetCode.PROTOCOL_ERROR)
      assert.deepEqual(server.kinds(), order === 'before-head' ? ['reset'] : ['head', 'end', 'reset'])
      assert.equal(other.resetCode, undefined)
      assert.equal(p.server.closed, false)
    }
  })

  it('property: any body and any trailer fields arrive intact, in order, both ways', () => {
    const fields = fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 20 })), { maxLength: 6 })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fields, fields, fc.boolean(), (body, requestTrailers, responseTrailers, negotiated) => {
        const p = pair(negotiated, negotiated)
        const server = new RecordingHandler()
        const stream = p.server.openStream(POST, server)!
        stream.write(Buffer.from(body))
        stream.endWithTrailers(requestTrailers)
        p.pump()
        const agent = p.agentStreams[0]!
        const carried = (sent: Array<[string, string]>) => (negotiated && sent.length > 0 ? sent : undefined)
        assert.deepEqual(agent.handler.trailers, carried(requestTrailers))
        assert.ok(agent.handler.body.equals(body))
        agent.stream.sendHead({ status: 200, headers: [] })
        agent.stream.write(Buffer.from(body))
        agent.stream.endWithTrailers(responseTrailers)
        p.pump()
        assert.deepEqual(server.trailers, carried(responseTrailers))
        assert.ok(server.body.equals(body))
        assert.equal(server.kinds().at(-1), 'end')
        assert.equal(p.server.activeStreams, 0)
      }),
      { numRuns: 2_000 },
    )
  })
})
