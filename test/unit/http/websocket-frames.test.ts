import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { closeFrame, FrameBoundary } from '../../../src/http/websocket-frames.js'

/** One frame as RFC 6455 §5.2 lays it out (the payload is not really masked: only the layout matters here). */
function frame(opcode: number, payloadLength: number, masked: boolean, fin = true): Buffer {
  const extended = payloadLength < 126 ? 0 : payloadLength < 65536 ? 2 : 8
  const head = Buffer.alloc(2 + extended + (masked ? 4 : 0))
  head[0] = (fin ? 0x80 : 0) | opcode
  head[1] = (masked ? 0x80 : 0) | (extended === 0 ? payloadLength : extended === 2 ? 126 : 127)
  if (extended === 2) head.writeUInt16BE(payloadLength, 2)
  if (extended === 8) head.writeBigUInt64BE(BigInt(payloadLength), 2)
  if (masked) randomBytes(4).copy(head, 2 + extended)
  return Buffer.concat([head, Buffer.alloc(payloadLength, 0x7e)])
}

describe('FrameBoundary', () => {
  const frames = [
    frame(0x2, 0, false),
    frame(0x1, 5, true),
    frame(0x2, 125, false),
    frame(0x2, 126, true),
    frame(0x0, 65535, false, false),
    frame(0x9, 3, true), // a ping between fragments
    frame(0x0, 65536, true),
    frame(0x2, 200_000, false),
    frame(0x8, 2, true),
  ]
  const stream = Buffer.concat(frames)
  const ends: number[] = []
  for (let at = 0, i = 0; i < frames.length; i++) ends.push((at += frames[i]!.length))

  it('finds every frame end, whatever the chunking (random splits, one byte at a time included)', () => {
    for (let trial = 0; trial < 200; trial++) {
      const tracker = new FrameBoundary()
      const found: number[] = []
      let offset = 0
      while (offset < stream.length) {
        const size = trial === 0 ? 1 : 1 + Math.floor(Math.random() * (trial % 2 === 0 ? 20 : 70_000))
        let chunk = stream.subarray(offset, Math.min(stream.length, offset + size))
        // Stop at each boundary inside the chunk, as a proxy about to put its own frame there would.
        while (chunk.length > 0) {
          const taken = tracker.scan(chunk, true)
          if (taken === 0) {
            // At a boundary already: step over one byte without stopping.
            const one = tracker.scan(chunk.subarray(0, 1))
            offset += one
            chunk = chunk.subarray(one)
            if (tracker.atBoundary) found.push(offset)
            continue
          }
          offset += taken
          chunk = chunk.subarray(taken)
          if (tracker.atBoundary) found.push(offset)
        }
      }
      assert.deepEqual(found, ends, `trial ${trial}`)
    }
  })

  it('is at a boundary at the start and only between frames; sees a close frame only once it is complete', () => {
    const tracker = new FrameBoundary()
    assert.equal(tracker.atBoundary, true)
    const close = closeFrame(1001, 'bye', true)
    tracker.scan(close.subarray(0, close.length - 1))
    assert.equal(tracker.atBoundary, false)
    assert.equal(tracker.sawClose, false)
    tracker.scan(close.subarray(close.length - 1))
    assert.equal(tracker.atBoundary, true)
    assert.equal(tracker.sawClose, true)
  })
})

describe('closeFrame', () => {
  it('unmasked (server to client): FIN + close, code and reason', () => {
    assert.equal(closeFrame(1001, 'server going away', false).toString('hex'), `8813${'03e9'}${Buffer.from('server going away').toString('hex')}`)
  })

  it('masked (to a server): the payload unmasks to code and reason', () => {
    const frame = closeFrame(1001, 'bye', true)
    assert.equal(frame[0], 0x88)
    assert.equal(frame[1], 0x80 | 5)
    const key = frame.subarray(2, 6)
    const payload = Buffer.from(frame.subarray(6).map((b, i) => b ^ key[i & 3]!))
    assert.equal(payload.readUInt16BE(0), 1001)
    assert.equal(payload.subarray(2).toString(), 'bye')
  })
})
