import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  FrameType,
  INITIAL_WINDOW,
  MAX_DATA_PAYLOAD,
  ResetCode,
  decodeFrame,
  decodeReset,
  decodeU32,
  encodeData,
  encodeHead,
  sessionDefaults,
  type RequestHead,
  type Stream,
} from '../../../src/protocol/index.js'
import { RecordingHandler, prng, sessionPair, type MemoryTransport } from './memory-transport.js'

const POST: RequestHead = { method: 'POST', path: '/upload', headers: [] }
const KiB = 1024

function pairWithAgentStreams(serverOptions = {}) {
  const agentStreams: Array<{ stream: Stream; handler: RecordingHandler }> = []
  const pair = sessionPair(
    {
      onStream(stream) {
        const handler = new RecordingHandler()
        agentStreams.push({ stream, handler })
        return handler
      },
    },
    serverOptions,
  )
  return { ...pair, agentStreams }
}

/** DATA payload sizes a transport sent (all frames, oldest first). */
function dataSizes(transport: MemoryTransport): number[] {
  return transport.log
    .map(decodeFrame)
    .filter((f) => f.type === FrameType.DATA)
    .map((f) => f.payload.length)
}

/** WINDOW increments a transport sent. */
function windowIncrements(transport: MemoryTransport): number[] {
  return transport.log
    .map(decodeFrame)
    .filter((f) => f.type === FrameType.WINDOW)
    .map((f) => decodeU32(f.payload, 'WINDOW'))
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

describe('flow control: credit', () => {
  it('the initial window is 256 KiB and DATA frames carry at most 64 KiB', () => {
    assert.equal(INITIAL_WINDOW, 256 * KiB)
    assert.equal(MAX_DATA_PAYLOAD, 64 * KiB)
    const p = pairWithAgentStreams()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    assert.equal(stream.sendWindow, INITIAL_WINDOW)
    assert.equal(stream.recvWindow, INITIAL_WINDOW)
    assert.equal(stream.write(Buffer.alloc(200 * KiB)), true)
    assert.deepEqual(dataSizes(p.serverTransport), [64 * KiB, 64 * KiB, 64 * KiB, 8 * KiB])
  })

  it('the sender stops at 256 KiB without credit and resumes after WINDOW', () => {
    const p = pairWithAgentStreams()
    const handler = new RecordingHandler()
    const stream = p.server.openStream(POST, handler)!
    const body = Buffer.from(Array.from({ length: 300 * KiB }, (_, i) => (i * 7) & 0xff))
    assert.equal(stream.write(body), false, 'write must ask the caller to wait')
    assert.equal(stream.sendWindow, 0)
    assert.equal(stream.hasPending, true)
    assert.equal(stream.write(Buffer.from('more')), false, 'writes queue behind the pending bytes')
    p.pump()
    const agentSide = p.agentStreams[0]!
    assert.equal(agentSide.handler.received, INITIAL_WINDOW)
    assert.equal(agentSide.stream.recvWindow, 0)
    assert.equal(handler.drains, 0)

    // The receiver drains a little: not enough for a WINDOW yet, nothing moves.
    agentSide.stream.consumed(64 * KiB)
    assert.equal(p.pump(), 0)
    // Half the window drained: one WINDOW of 128 KiB, and the sender resumes.
    agentSide.stream.consumed(64 * KiB)
    assert.deepEqual(windowIncrements(p.agentTransport), [128 * KiB])
    p.pump()
    assert.equal(agentSide.handler.received, body.length + 4)
    assert.ok(agentSide.handler.body.equals(Buffer.concat([body, Buffer.from('more')])))
    assert.equal(handler.drains, 1)
    assert.equal(stream.hasPending, false)
    assert.equal(stream.sendWindow, 128 * KiB - (body.length + 4 - INITIAL_WINDOW))
  })

  it('a write that exactly uses up the credit returns false; onDrain follows the WINDOW', () => {
    const p = pairWithAgentStreams()
    const handler = new RecordingHandler()
    const stream = p.server.openStream(POST, handler)!
    assert.equal(stream.write(Buffer.alloc(INITIAL_WINDOW)), false)
    assert.equal(stream.hasPending, false)
    p.pump()
    p.agentStreams[0]!.stream.consumed(INITIAL_WINDOW)
    p.pump()
    assert.equal(handler.drains, 1)
    assert.equal(stream.write(Buffer.alloc(1)), true)
  })

  it('WINDOW increments are coalesced: one frame per half window drained', () => {
    const p = pairWithAgentStreams()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    stream.write(Buffer.alloc(INITIAL_WINDOW))
    p.pump()
    const agentStream = p.agentStreams[0]!.stream
    for (let i = 0; i < 127; i++) agentStream.consumed(KiB)
    assert.deepEqual(windowIncrements(p.agentTransport), [])
    agentStream.consumed(KiB)
    assert.deepEqual(windowIncrements(p.agentTransport), [128 * KiB])
    agentStream.consumed(100_000)
    agentStream.consumed(31_071)
    assert.deepEqual(windowIncrements(p.agentTransport), [128 * KiB])
    agentStream.consumed(1)
    assert.deepEqual(windowIncrements(p.agentTransport), [128 * KiB, 128 * KiB])
    assert.equal(agentStream.recvWindow, INITIAL_WINDOW)
  })

  it('no WINDOW is sent for a stream whose peer has ended', () => {
    const p = pairWithAgentStreams()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    stream.write(Buffer.alloc(200 * KiB))
    stream.end()
    p.pump()
    p.agentStreams[0]!.stream.consumed(200 * KiB)
    assert.deepEqual(windowIncrements(p.agentTransport), [])
  })

  it('end() waits for the bytes still waiting for credit, then END follows them', () => {
    const p = pairWithAgentStreams()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    stream.write(Buffer.alloc(INITIAL_WINDOW + 10))
    stream.end()
    p.pump()
    const agentSide = p.agentStreams[0]!
    assert.equal(agentSide.handler.ended, false)
    agentSide.stream.consumed(INITIAL_WINDOW)
    p.pump()
    assert.equal(agentSide.handler.received, INITIAL_WINDOW + 10)
    assert.deepEqual(agentSide.handler.kinds().slice(-2), ['data', 'end'])
    assert.equal(stream.localEnded, true)
  })

  it('the receiver resets a stream whose peer sends beyond the window it granted', () => {
    const p = pairWithAgentStreams()
    p.server.openStream(POST, new RecordingHandler())
    p.pump()
    p.serverTransport.take()
    const agentSide = p.agentStreams[0]!
    // A peer that ignores credit: exactly the window is fine...
    for (let i = 0; i < 4; i++) p.agent.receive(encodeData(1, Buffer.alloc(64 * KiB)))
    assert.equal(agentSide.stream.recvWindow, 0)
    // ...the granted 128 KiB is fine...
    agentSide.stream.consumed(128 * KiB)
    p.agent.receive(encodeData(1, Buffer.alloc(64 * KiB)))
    p.agent.receive(encodeData(1, Buffer.alloc(64 * KiB - 1)))
    assert.equal(agentSide.handler.resetCode, undefined)
    // ...two bytes more than the window is not.
    p.agent.receive(encodeData(1, Buffer.alloc(2)))
    assert.equal(agentSide.handler.resetCode, ResetCode.PROTOCOL_ERROR)
    assert.equal(agentSide.handler.received, INITIAL_WINDOW + 128 * KiB - 1, 'the overrunning frame is not delivered')
    const sent = p.agentTransport.log.map(decodeFrame)
    const reset = sent.at(-1)!
    assert.equal(reset.type, FrameType.RESET)
    assert.equal(decodeReset(reset.payload).code, ResetCode.PROTOCOL_ERROR)
    assert.equal(p.agent.streamErrors, 1)
    assert.equal(p.agent.activeStreams, 0)
  })
})

describe('flow control: transport congestion', () => {
  it('a bufferedAmount above the high-water mark pauses every writer; onSent below the low-water mark resumes them', () => {
    const p = pairWithAgentStreams()
    const t = p.serverTransport
    const a = new RecordingHandler()
    const b = new RecordingHandler()
    t.bufferedAmount = 2 * sessionDefaults.highWaterMark
    const streamA = p.server.openStream(POST, a)!
    assert.equal(p.server.congested, true, 'the OPEN that crossed the mark turns congestion on')
    assert.equal(t.pendingCallbacks, 1, 'and carries the drain check')
    assert.equal(streamA.write(Buffer.alloc(100 * KiB, 1)), false)
    const streamB = p.server.openStream(POST, b)!
    assert.equal(streamB.write(Buffer.alloc(10, 2)), false)
    assert.deepEqual(dataSizes(t), [], 'no DATA leaves while congested')
    assert.equal(t.pendingCallbacks, 2, 'every frame sent while congested carries the drain check')

    // The socket wrote something but still holds more than the low-water mark: stay paused.
    t.bufferedAmount = sessionDefaults.lowWaterMark + 1
    t.fireSent(1)
    assert.equal(p.server.congested, true)
    assert.deepEqual(dataSizes(t), [])

    // At the low-water mark: resume, in order, and tell both writers.
    t.bufferedAmount = sessionDefaults.lowWaterMark
    t.fireSent(1)
    assert.equal(p.server.congested, false)
    assert.deepEqual(dataSizes(t), [64 * KiB, 36 * KiB, 10])
    assert.equal(a.drains, 1)
    assert.equal(b.drains, 1)
  })

  it('congestion caused by a DATA frame stops the writer mid-chunk; the rest follows after drain', () => {
    const p = pairWithAgentStreams({ highWaterMark: 100 * KiB, lowWaterMark: 10 * KiB })
    const t = p.serverTransport
    const handler = new RecordingHandler()
    const stream = p.server.openStream(POST, handler)!
    t.bufferedAmount = 50 * KiB
    assert.equal(stream.write(Buffer.alloc(200 * KiB)), false)
    assert.deepEqual(dataSizes(t), [64 * KiB], 'the frame that crossed the mark went out; nothing after it')
    t.bufferedAmount = 0
    t.fireSent()
    assert.deepEqual(dataSizes(t), [64 * KiB, 64 * KiB, 64 * KiB, 8 * KiB])
    assert.equal(handler.drains, 1)
  })

  it('control frames still go out while congested', () => {
    const p = pairWithAgentStreams()
    const stream = p.server.openStream(POST, new RecordingHandler())!
    stream.write(Buffer.alloc(INITIAL_WINDOW))
    p.pump()
    p.agentTransport.bufferedAmount = 10 * sessionDefaults.highWaterMark
    p.agent.send(encodeHead(1, { status: 200, headers: [] }))
    assert.equal(p.agent.congested, true)
    p.agentStreams[0]!.stream.consumed(INITIAL_WINDOW)
    p.agentStreams[0]!.stream.end()
    const types = p.agentTransport.log.map((m) => decodeFrame(m).type)
    assert.deepEqual(types, [FrameType.HEAD, FrameType.WINDOW, FrameType.END])
  })

  it('a stream without credit stays paused after the transport drains, until its WINDOW', () => {
    const p = pairWithAgentStreams()
    const t = p.serverTransport
    const handler = new RecordingHandler()
    const stream = p.server.openStream(POST, handler)!
    stream.write(Buffer.alloc(INITIAL_WINDOW + 5))
    p.pump()
    t.bufferedAmount = 2 * sessionDefaults.highWaterMark
    const other = p.server.openStream(POST, new RecordingHandler())!
    assert.equal(other.write(Buffer.alloc(1)), false)
    t.bufferedAmount = 0
    t.fireSent()
    assert.equal(handler.drains, 0, 'no credit yet')
    assert.equal(stream.hasPending, true)
    p.pump()
    p.agentStreams[0]!.stream.consumed(INITIAL_WINDOW)
    p.pump()
    assert.equal(handler.drains, 1)
    assert.equal(stream.hasPending, false)
  })
})

describe('flow control: chunked chaotically', () => {
  /**
   * Two bodies cross on one stream (request up, response down) while every
   * step is chosen at random: write a chunk of random size, deliver a few
   * frames one way, consume a random number of received bytes, let the fake
   * socket write out a few frames. The bytes must arrive intact and in order,
   * with no stream error, however the steps interleave.
   */
  function runChaos(seed: number, bodySize: number): { frames: number; congestedSteps: number; drains: number } {
    const rand = prng(seed)
    const p = sessionPair(
      {
        onStream(stream) {
          agentStream = stream
          return agentHandler
        },
      },
      { highWaterMark: 96 * KiB, lowWaterMark: 16 * KiB },
      { accountsBuffer: true },
    )
    const makeBody = (): Buffer => {
      const b = Buffer.allocUnsafe(bodySize)
      for (let i = 0; i < bodySize; i++) b[i] = rand(256)
      return b
    }
    const bodies = { up: makeBody(), down: makeBody() }

    interface Side {
      sent: number
      waiting: boolean
      ended: boolean
      unconsumed: number
    }
    const up: Side = { sent: 0, waiting: false, ended: false, unconsumed: 0 }
    const down: Side = { sent: 0, waiting: false, ended: false, unconsumed: 0 }

    class ChaosHandler extends RecordingHandler {
      constructor(private readonly side: Side) {
        super()
      }
      override onData(chunk: Buffer): void {
        super.onData(chunk)
        this.sideIn.unconsumed += chunk.length
      }
      override onDrain(): void {
        super.onDrain()
        this.side.waiting = false
      }
      sideIn!: Side
    }
    // The agent receives "up" and writes "down"; the server the reverse.
    const agentHandler = new ChaosHandler(down)
    agentHandler.sideIn = up
    const serverHandler = new ChaosHandler(up)
    serverHandler.sideIn = down
    let agentStream: Stream | undefined
    const serverStream = p.server.openStream(POST, serverHandler)!
    p.deliver('server')
    assert.ok(agentStream)
    p.agent.send(encodeHead(agentStream.id, { status: 200, headers: [] }))

    const write = (stream: Stream, side: Side, body: Buffer): void => {
      if (side.waiting || side.ended) return
      if (side.sent === body.length) {
        stream.end()
        side.ended = true
        return
      }
      const n = Math.min(1 + rand(rand(2) === 0 ? 512 : 100 * KiB), body.length - side.sent)
      const ok = stream.write(body.subarray(side.sent, side.sent + n))
      side.sent += n
      if (!ok) side.waiting = true
    }
    const consume = (stream: Stream, side: Side): void => {
      if (side.unconsumed === 0) return
      const n = 1 + rand(side.unconsumed)
      side.unconsumed -= n
      stream.consumed(n)
    }

    let steps = 0
    let congestedSteps = 0
    const done = (): boolean => agentHandler.ended && serverHandler.ended && p.server.activeStreams === 0 && p.agent.activeStreams === 0
    while (!done()) {
      if (++steps > 2_000_000) assert.fail(`seed ${seed}: no progress after ${steps} steps`)
      if (p.server.congested || p.agent.congested) congestedSteps++
      switch (rand(8)) {
        case 0:
          write(serverStream, up, bodies.up)
          break
        case 1:
          write(agentStream, down, bodies.down)
          break
        case 2:
          p.deliver('server', 1 + rand(4))
          break
        case 3:
          p.deliver('agent', 1 + rand(4))
          break
        case 4:
          consume(agentStream, up)
          break
        case 5:
          consume(serverStream, down)
          break
        case 6:
          p.serverTransport.writeOut(1 + rand(4))
          break
        case 7:
          p.agentTransport.writeOut(1 + rand(4))
          break
      }
    }
    assert.ok(agentHandler.body.equals(bodies.up), `seed ${seed}: request body differs`)
    assert.ok(serverHandler.body.equals(bodies.down), `seed ${seed}: response body differs`)
    assert.equal(agentHandler.resetCode, undefined)
    assert.equal(serverHandler.resetCode, undefined)
    assert.equal(p.server.streamErrors + p.agent.streamErrors, 0)
    // The only frames that may arrive for a forgotten stream are WINDOWs that
    // crossed the peer's END on the wire (credit for a body that then ended).
    assert.ok(p.agent.droppedFrames <= windowIncrements(p.serverTransport).length)
    assert.ok(p.server.droppedFrames <= windowIncrements(p.agentTransport).length)
    // Credit was respected (else the receiver would have reset the stream), and
    // every byte crossed exactly once.
    assert.equal(sum(dataSizes(p.serverTransport)), bodySize)
    assert.equal(sum(dataSizes(p.agentTransport)), bodySize)
    return { frames: p.serverTransport.log.length + p.agentTransport.log.length, congestedSteps, drains: agentHandler.drains + serverHandler.drains }
  }

  for (const seed of [1, 2, 3, 0xc0ffee]) {
    it(`seed ${seed}: 1.5 MiB each way arrive intact and in order`, () => {
      const { frames, congestedSteps, drains } = runChaos(seed, 1536 * KiB)
      // The run must have exercised what it claims to: many frames, a congested
      // transport, and writers that had to wait for onDrain.
      assert.ok(frames > 50, `only ${frames} frames`)
      assert.ok(congestedSteps > 0, 'the transport never became congested')
      assert.ok(drains > 0, 'no writer ever had to wait')
    })
  }
})
