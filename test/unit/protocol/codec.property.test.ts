/**
 * Property tests of the adit.v2 codec and streams (fast-check). Over 100,000
 * generated cases in all; the numbers of runs are at the top so the budget is
 * visible. A failure prints its seed and a shrunk counterexample.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  FrameType,
  HEADER_LENGTH,
  ProtocolError,
  decodeFrame,
  decodeGoAway,
  decodeHead,
  decodeJsonResponse,
  decodeOpen,
  decodeReset,
  decodeTrailers,
  decodeU32,
  encodeData,
  encodeEnd,
  encodeGoAway,
  encodeHead,
  encodeOpen,
  encodeReset,
  encodeTrailers,
  encodeWindow,
  type RequestHead,
  type ResponseHead,
  type Stream,
} from '../../../src/protocol/index.js'
import { RecordingHandler, prng, sessionPair } from './memory-transport.js'

const RUNS = {
  roundTrip: 40_000,
  arbitraryBytes: 40_000,
  jsonShapedHeads: 12_000,
  sessionFuzz: 10_000,
  streamDelivery: 1_000,
} as const

const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const text = fc.string({ unit: 'binary', maxLength: 24 })
const headers = fc.array(fc.tuple(text, text), { maxLength: 6 })

const requestHead: fc.Arbitrary<RequestHead> = fc
  .record({
    method: fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
    path: text.map((s) => `/${s}`),
    headers,
    upgrade: fc.boolean(),
    tcp: fc.boolean(),
    bodyless: fc.boolean(),
    requestId: fc.option(text, { nil: undefined }),
  })
  .map(({ upgrade, tcp, bodyless, requestId, ...head }) => {
    const out: RequestHead = head
    if (upgrade) out.upgrade = true
    if (upgrade && tcp) out.tcp = true
    if (bodyless) out.bodyless = true
    if (requestId !== undefined) out.requestId = requestId
    return out
  })

const responseHead: fc.Arbitrary<ResponseHead> = fc
  .record({ status: fc.integer({ min: 100, max: 999 }), headers, statusText: fc.option(text, { nil: undefined }) })
  .map(({ statusText, ...head }) => (statusText === undefined ? head : { ...head, statusText }))

/** A frame as the encoder's arguments, plus what decoding must give back. */
type FrameSpec =
  | { type: 'OPEN'; streamId: number; head: RequestHead; end: boolean }
  | { type: 'HEAD'; streamId: number; head: ResponseHead; end: boolean }
  | { type: 'DATA'; streamId: number; data: Uint8Array; end: boolean; blocked: boolean }
  | { type: 'END'; streamId: number }
  | { type: 'RESET'; streamId: number; code: number; reason: string }
  | { type: 'WINDOW'; streamId: number; increment: number }
  | { type: 'GOAWAY'; lastStreamId: number; code: number }
  | { type: 'TRAILERS'; streamId: number; trailers: Array<[string, string]> }

const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.record({ type: fc.constant('OPEN' as const), streamId: u32, head: requestHead, end: fc.boolean() }),
  fc.record({ type: fc.constant('HEAD' as const), streamId: u32, head: responseHead, end: fc.boolean() }),
  fc.record({ type: fc.constant('DATA' as const), streamId: u32, data: fc.uint8Array({ maxLength: 600 }), end: fc.boolean(), blocked: fc.boolean() }),
  fc.record({ type: fc.constant('END' as const), streamId: u32 }),
  fc.record({ type: fc.constant('RESET' as const), streamId: u32, code: u32, reason: fc.string({ unit: 'binary', maxLength: 40 }) }),
  fc.record({ type: fc.constant('WINDOW' as const), streamId: u32, increment: u32 }),
  fc.record({ type: fc.constant('GOAWAY' as const), lastStreamId: u32, code: u32 }),
  fc.record({ type: fc.constant('TRAILERS' as const), streamId: u32, trailers: headers }),
)

function encode(spec: FrameSpec): Buffer {
  switch (spec.type) {
    case 'OPEN':
      return encodeOpen(spec.streamId, spec.head, spec.end)
    case 'HEAD':
      return encodeHead(spec.streamId, spec.head, spec.end)
    case 'DATA':
      return encodeData(spec.streamId, spec.data, spec.end, spec.blocked)
    case 'END':
      return encodeEnd(spec.streamId)
    case 'RESET':
      return encodeReset(spec.streamId, spec.code, spec.reason)
    case 'WINDOW':
      return encodeWindow(spec.streamId, spec.increment)
    case 'GOAWAY':
      return encodeGoAway(spec.lastStreamId, spec.code)
    case 'TRAILERS':
      return encodeTrailers(spec.streamId, spec.trailers)
  }
}

/** `size` bytes of xorshift32 output: cheap, and no period a reordering could hide in. */
function xorshiftBytes(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = seed | 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return Buffer.from(words.buffer, 0, size)
}

/** Calls `fn`; anything thrown other than a ProtocolError fails the property. */
function onlyProtocolErrors(fn: () => unknown): void {
  try {
    fn()
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error
  }
}

describe('codec properties', () => {
  it(`every frame round-trips (${RUNS.roundTrip} cases)`, () => {
    fc.assert(
      fc.property(frameSpec, (spec) => {
        const message = encode(spec)
        const frame = decodeFrame(message)
        assert.equal(frame.type, FrameType[spec.type])
        // FLAG_END survives the round trip, and only OPEN, HEAD and DATA ever carry it.
        assert.equal(frame.end, 'end' in spec && spec.end)
        assert.equal(frame.blocked, 'blocked' in spec && spec.blocked)
        assert.equal(frame.payload.length, message.length - HEADER_LENGTH)
        switch (spec.type) {
          case 'OPEN':
            assert.deepEqual(decodeOpen(frame.payload), spec.head)
            break
          case 'HEAD':
            assert.deepEqual(decodeHead(frame.payload), spec.head)
            break
          case 'DATA':
            assert.ok(frame.payload.equals(spec.data))
            break
          case 'END':
            assert.equal(frame.payload.length, 0)
            break
          case 'RESET':
            assert.deepEqual(decodeReset(frame.payload), { code: spec.code, reason: spec.reason })
            break
          case 'WINDOW':
            assert.equal(decodeU32(frame.payload, 'WINDOW'), spec.increment)
            break
          case 'GOAWAY':
            assert.deepEqual(decodeGoAway(frame.payload), { lastStreamId: spec.lastStreamId, code: spec.code })
            break
          case 'TRAILERS':
            assert.deepEqual(decodeTrailers(frame.payload), spec.trailers)
            break
        }
        assert.equal(frame.streamId, spec.type === 'GOAWAY' ? 0 : spec.streamId)
      }),
      { numRuns: RUNS.roundTrip },
    )
  })

  it(`arbitrary bytes make the decoders throw nothing but ProtocolError (${RUNS.arbitraryBytes} cases)`, () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      // A plausible header in front of garbage reaches the payload checks.
      fc.tuple(fc.integer({ min: 0, max: 10 }), u32, fc.uint8Array({ maxLength: 40 })).map(([type, id, rest]) => {
        const b = Buffer.alloc(HEADER_LENGTH + rest.length)
        b[0] = type
        b.writeUInt32BE(id, 1)
        b.set(rest, HEADER_LENGTH)
        return b
      }),
      // A valid frame, truncated or with one byte changed.
      fc.tuple(frameSpec, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([spec, at, value, truncate]) => {
        const b = Buffer.from(encode(spec))
        if (b.length === 0) return b
        if (truncate) return b.subarray(0, at % b.length)
        b[at % b.length] = value
        return b
      }),
    )
    fc.assert(
      fc.property(bytes, (raw) => {
        const buf = Buffer.from(raw)
        onlyProtocolErrors(() => decodeFrame(buf))
        onlyProtocolErrors(() => decodeOpen(buf.subarray(Math.min(HEADER_LENGTH, buf.length))))
        onlyProtocolErrors(() => decodeHead(buf.subarray(Math.min(HEADER_LENGTH, buf.length))))
        onlyProtocolErrors(() => decodeOpen(buf))
        onlyProtocolErrors(() => decodeHead(buf))
        onlyProtocolErrors(() => decodeReset(buf))
        onlyProtocolErrors(() => decodeGoAway(buf))
        onlyProtocolErrors(() => decodeTrailers(buf))
        onlyProtocolErrors(() => decodeU32(buf, 'WINDOW'))
        onlyProtocolErrors(() => decodeJsonResponse(buf))
      }),
      { numRuns: RUNS.arbitraryBytes },
    )
  })

  it(`JSON-shaped heads of any shape are accepted or refused with ProtocolError (${RUNS.jsonShapedHeads} cases)`, () => {
    const field = fc.oneof(fc.anything({ maxDepth: 2 }), text, fc.integer({ min: 0, max: 1200 }))
    const pairs = fc.array(fc.oneof(fc.tuple(text, text), fc.array(field, { maxLength: 3 }), field), { maxLength: 4 })
    const shaped = fc.record(
      {
        method: field,
        path: fc.oneof(
          field,
          text.map((s) => `/${s}`),
        ),
        headers: fc.oneof(pairs, field),
        status: field,
        type: fc.constantFrom('resp', 'req', 7),
        req_id: field,
        body: field,
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.oneof(shaped, fc.jsonValue({ maxDepth: 3 })), (value) => {
        let json: string | undefined
        try {
          json = JSON.stringify(value)
        } catch {
          return // BigInt and friends: not something a peer can send
        }
        const buf = Buffer.from(json ?? 'undefined')
        onlyProtocolErrors(() => decodeOpen(buf))
        onlyProtocolErrors(() => decodeHead(buf))
        onlyProtocolErrors(() => decodeTrailers(buf))
        onlyProtocolErrors(() => decodeJsonResponse(buf))
      }),
      { numRuns: RUNS.jsonShapedHeads },
    )
  })

  it(`a session fed any sequence of frames never throws and keeps its windows non-negative (${RUNS.sessionFuzz} cases)`, () => {
    const message = fc.oneof(
      { weight: 4, arbitrary: frameSpec.map(encode) },
      // Small stream ids, so frames hit the streams that exist.
      {
        weight: 4,
        arbitrary: fc.tuple(frameSpec, fc.integer({ min: 0, max: 3 })).map(([spec, id]) => encode('streamId' in spec ? { ...spec, streamId: id } : spec)),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)) },
    )
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.boolean(), (messages, toAgent) => {
        const streams: Stream[] = []
        let errors = 0
        const p = sessionPair(
          {
            onStream(stream) {
              streams.push(stream)
              return new RecordingHandler()
            },
            onProtocolError: () => errors++,
          },
          { onProtocolError: () => errors++ },
        )
        // Two streams that exist on both sides, so frames can land on them.
        streams.push(p.server.openStream({ method: 'GET', path: '/', headers: [] }, new RecordingHandler())!)
        streams.push(p.server.openStream({ method: 'GET', path: '/', headers: [] }, new RecordingHandler())!)
        p.pump()
        const target = toAgent ? p.agent : p.server
        for (const m of messages) {
          target.receive(m)
          for (const s of streams) {
            assert.ok(s.recvWindow >= 0 && s.sendWindow >= 0)
          }
        }
        assert.ok(errors <= messages.length)
      }),
      { numRuns: RUNS.sessionFuzz },
    )
  })

  it(`any chunking, delivery order and consumption order delivers the same bytes (${RUNS.streamDelivery} cases)`, () => {
    fc.assert(
      fc.property(
        // Up to 400 KiB: past the 256 KiB window, so credit has to flow back.
        fc.integer({ min: 0, max: 400 * 1024 }),
        fc.array(fc.integer({ min: 1, max: 150 * 1024 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 300 * 1024 }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        (size, chunkSizes, consumeSizes, seed) => {
          const rand = prng(seed)
          const body = xorshiftBytes(size, seed)
          let agentStream: Stream | undefined
          const received = new RecordingHandler()
          const p = sessionPair(
            {
              onStream(stream) {
                agentStream = stream
                return received
              },
            },
            { highWaterMark: 128 * 1024, lowWaterMark: 32 * 1024 },
            { accountsBuffer: true },
          )
          let waiting = false
          const writer = new RecordingHandler()
          writer.onDrain = () => {
            waiting = false
          }
          const stream = p.server.openStream({ method: 'PUT', path: '/', headers: [] }, writer)!
          let sent = 0
          let ended = false
          let consumedUpTo = 0
          let chunk = 0
          let consume = 0
          // Each step does a burst of one kind of work, so 1-byte chunkings
          // still finish in a bounded number of steps.
          for (let step = 0; !received.ended; step++) {
            assert.ok(step < 4 * size + 10_000, `no progress after ${step} steps`)
            const burst = 1 + rand(64)
            switch (rand(4)) {
              case 0:
                for (let i = 0; i < burst && !waiting && !ended; i++) {
                  if (sent === size) {
                    stream.end()
                    ended = true
                    break
                  }
                  const n = Math.min(chunkSizes[chunk++ % chunkSizes.length]!, size - sent)
                  waiting = !stream.write(body.subarray(sent, sent + n))
                  sent += n
                }
                break
              case 1:
                p.deliver('server', burst)
                p.deliver('agent')
                break
              case 2:
                for (let i = 0; i < burst && agentStream !== undefined && received.received > consumedUpTo; i++) {
                  const n = Math.min(consumeSizes[consume++ % consumeSizes.length]!, received.received - consumedUpTo)
                  consumedUpTo += n
                  agentStream.consumed(n)
                }
                break
              case 3:
                p.serverTransport.writeOut(burst)
                break
            }
          }
          assert.equal(received.received, size)
          assert.ok(received.body.equals(body))
          assert.equal(received.resetCode, undefined)
        },
      ),
      { numRuns: RUNS.streamDelivery },
    )
  })
})
