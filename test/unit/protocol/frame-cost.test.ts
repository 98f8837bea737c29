import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BLOCK_SIZE, ByteQueue, ProtocolErrorCode, encodeData, encodeHead, type ProtocolError } from '../../../src/protocol/index.js'
import { RecordingHandler, prng, sessionPair } from './memory-transport.js'

const WINDOW = 1024 * 1024

describe('ByteQueue: held bytes cost bytes, not frames (the per-frame memory of issue 11)', () => {
  it('a window of one-byte chunks, each a view into its own 64 KiB read, pins at most 2× the window', () => {
    const queue = new ByteQueue()
    const read = Buffer.alloc(64 * 1024, 'x')
    for (let i = 0; i < WINDOW; i++) queue.push(read.subarray(i % read.length, (i % read.length) + 1))
    assert.equal(queue.length, WINDOW)
    assert.ok(queue.footprint <= 2 * WINDOW, `footprint ${queue.footprint}`)
    const parts = queue.take()
    assert.equal(
      parts.reduce((n, p) => n + p.length, 0),
      WINDOW,
    )
    assert.ok(
      parts.every((p) => p.buffer !== read.buffer),
      'small chunks are copied: the reads they came from can go',
    )
    assert.equal(parts.length, WINDOW / BLOCK_SIZE)
  })

  it('any mix of sizes keeps the bound (2× the bytes plus one block) and the bytes in order', () => {
    const random = prng(11)
    for (let run = 0; run < 20; run++) {
      const queue = new ByteQueue()
      const expected: Buffer[] = []
      let total = 0
      while (total < WINDOW) {
        const size = [1, 7, 100, 5000, 9000, 20_000, 40_000, 64 * 1024][random(8)]!
        const chunk = Buffer.alloc(size)
        for (let i = 0; i < size; i += 997) chunk[i] = random(256)
        queue.push(chunk)
        expected.push(chunk)
        total += size
        assert.ok(queue.footprint <= 2 * queue.length + BLOCK_SIZE, `run ${run}: footprint ${queue.footprint} for ${queue.length} bytes`)
      }
      assert.deepEqual(Buffer.concat(queue.take()), Buffer.concat(expected))
      assert.equal(queue.length, 0)
    }
  })

  it('big chunks are kept as views (never copied)', () => {
    const queue = new ByteQueue()
    const big = Buffer.alloc(64 * 1024)
    queue.push(big)
    assert.equal(queue.take()[0], big)
  })
})

describe('Session: a budget for DATA frames, so tiny frames cost the connection that sends them', () => {
  function server(options: Parameters<typeof sessionPair>[1]) {
    const errors: ProtocolError[] = []
    const p = sessionPair({}, { ...options, onProtocolError: (e) => errors.push(e) })
    const handler = new RecordingHandler()
    const stream = p.server.openStream({ method: 'GET', path: '/', headers: [] }, handler)!
    p.serverTransport.take()
    p.server.receive(encodeHead(stream.id, { status: 200, headers: [] }))
    return { p, stream, handler, errors }
  }

  it('frames held undrained past maxHeldFrames close the connection (FLOW_CONTROL); draining them resets the count', () => {
    const { p, stream, errors } = server({ maxHeldFrames: 100 })
    for (let i = 0; i < 100; i++) p.server.receive(encodeData(stream.id, Buffer.from('x')))
    assert.equal(p.server.heldFrames, 100)
    assert.equal(errors.length, 0)
    stream.consumed(100)
    assert.equal(p.server.heldFrames, 0, 'consumed: no longer held')
    for (let i = 0; i < 100; i++) p.server.receive(encodeData(stream.id, Buffer.from('x')))
    assert.equal(errors.length, 0)
    p.server.receive(encodeData(stream.id, Buffer.from('x')))
    assert.deepEqual(
      errors.map((e) => e.code),
      [ProtocolErrorCode.FLOW_CONTROL],
    )
  })

  it('a finished stream gives back its held frames', () => {
    const { p, stream } = server({ maxHeldFrames: 100 })
    for (let i = 0; i < 50; i++) p.server.receive(encodeData(stream.id, Buffer.from('x')))
    stream.reset(1)
    assert.equal(p.server.heldFrames, 0)
  })

  it('small frames over the rate (after the burst) close the connection; a trickle never does; no clock, no budget', () => {
    let now = 0
    const flood = server({ now: () => now, smallFrameRate: 1000, smallFrameBurst: 500, maxHeldFrames: 1e9 })
    for (let i = 0; i < 500; i++) flood.p.server.receive(encodeData(flood.stream.id, Buffer.from('x')))
    assert.equal(flood.errors.length, 0, 'the burst')
    now += 100 // refills 100
    for (let i = 0; i < 100; i++) flood.p.server.receive(encodeData(flood.stream.id, Buffer.from('x')))
    assert.equal(flood.errors.length, 0)
    flood.p.server.receive(encodeData(flood.stream.id, Buffer.from('x')))
    assert.deepEqual(
      flood.errors.map((e) => e.code),
      [ProtocolErrorCode.FLOW_CONTROL],
    )

    const trickle = server({ now: () => now, smallFrameRate: 1000, smallFrameBurst: 500, maxHeldFrames: 1e9 })
    for (let i = 0; i < 5000; i++) {
      now += 2 // 500 a second, under the rate
      trickle.p.server.receive(encodeData(trickle.stream.id, Buffer.from('x')))
      trickle.stream.consumed(1)
    }
    assert.equal(trickle.errors.length, 0)

    const big = server({ now: () => now, smallFrameRate: 1, smallFrameBurst: 1, maxHeldFrames: 1e9 })
    for (let i = 0; i < 10; i++) big.p.server.receive(encodeData(big.stream.id, Buffer.alloc(2048)))
    assert.equal(big.errors.length, 0, 'frames of 1 KiB or more are not small')

    const unclocked = server({ smallFrameRate: 1, smallFrameBurst: 1, maxHeldFrames: 1e9 })
    for (let i = 0; i < 1000; i++) unclocked.p.server.receive(encodeData(unclocked.stream.id, Buffer.from('x')))
    assert.equal(unclocked.errors.length, 0)
  })
})
