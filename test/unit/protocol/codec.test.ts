import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  FLAG_BLOCKED,
  FLAG_END,
  FrameType,
  HEADER_LENGTH,
  MAX_HEAD_BYTES,
  ProtocolErrorCode,
  decodeFrame,
  decodeGoAway,
  decodeHead,
  decodeOpen,
  decodeReset,
  decodeU32,
  encodeData,
  encodeEnd,
  encodeGoAway,
  encodeHead,
  encodeOpen,
  encodeReset,
  encodeWindow,
  frameTypeName,
  stringifyFrame,
  type RequestHead,
  type ResponseHead,
} from '../../../src/protocol/index.js'
import { expectProtocolError } from './expect-protocol-error.js'

const json = (type: number, streamId: number, value: unknown): Buffer => {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  const buf = Buffer.alloc(HEADER_LENGTH + Buffer.byteLength(text))
  buf[0] = type
  buf.writeUInt32BE(streamId, 1)
  buf.write(text, HEADER_LENGTH)
  return buf
}

describe('codec round-trips', () => {
  it('OPEN keeps method, path, headers in order, upgrade and requestId', () => {
    const head: RequestHead = {
      method: 'PATCH',
      path: '/a/b?c=d&e=%20',
      headers: [
        ['x-a', '1'],
        ['X-A', '2'],
        ['cookie', 'é😀'],
      ],
      upgrade: true,
      tcp: true,
      requestId: 'req-42',
      bodyless: true,
    }
    const frame = decodeFrame(encodeOpen(0xffff_ffff, head))
    assert.equal(frame.type, FrameType.OPEN)
    assert.equal(frame.streamId, 0xffff_ffff)
    assert.deepEqual(decodeOpen(frame.payload), head)
  })

  it('OPEN drops unknown fields, a non-true upgrade or bodyless, and a non-string requestId', () => {
    const frame = decodeFrame(json(FrameType.OPEN, 3, { method: 'GET', path: '/', headers: [], upgrade: 'yes', bodyless: 1, extra: 1, requestId: 5 }))
    assert.deepEqual(decodeOpen(frame.payload), { method: 'GET', path: '/', headers: [] })
  })

  it('OPEN keeps tcp only with upgrade (a TCP stream is always an upgraded one)', () => {
    const alone = decodeFrame(json(FrameType.OPEN, 3, { method: 'GET', path: '/', headers: [], tcp: true }))
    assert.deepEqual(decodeOpen(alone.payload), { method: 'GET', path: '/', headers: [] })
    const notTrue = decodeFrame(json(FrameType.OPEN, 3, { method: 'GET', path: '/', headers: [], upgrade: true, tcp: 1 }))
    assert.deepEqual(decodeOpen(notTrue.payload), { method: 'GET', path: '/', headers: [], upgrade: true })
  })

  it('HEAD keeps status, headers and statusText', () => {
    const head: ResponseHead = { status: 101, headers: [['upgrade', 'websocket']], statusText: 'Switching Protocols' }
    const frame = decodeFrame(encodeHead(9, head))
    assert.equal(frame.type, FrameType.HEAD)
    assert.equal(frame.streamId, 9)
    assert.deepEqual(decodeHead(frame.payload), head)
  })

  it('DATA carries raw bytes, empty included, and the payload is a view of the message', () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 0xff))
    const message = encodeData(5, bytes)
    assert.equal(message.length, HEADER_LENGTH + bytes.length)
    const frame = decodeFrame(message)
    assert.equal(frame.type, FrameType.DATA)
    assert.equal(frame.streamId, 5)
    assert.ok(frame.payload.equals(bytes))
    assert.equal(frame.payload.buffer, message.buffer, 'payload must be a view, not a copy')
    assert.equal(frame.payload.byteOffset, message.byteOffset + HEADER_LENGTH)
    assert.equal(decodeFrame(encodeData(5, new Uint8Array(0))).payload.length, 0)
  })

  it('END has an empty payload', () => {
    const frame = decodeFrame(encodeEnd(77))
    assert.deepEqual([frame.type, frame.streamId, frame.payload.length], [FrameType.END, 77, 0])
  })

  it('RESET keeps its code and a UTF-8 reason, or none', () => {
    for (const [code, reason] of [
      [4, 'DATA before HEAD'],
      [0xffff_fffe, ''],
      [2, 'connexion refusée 🚫'],
    ] as const) {
      const frame = decodeFrame(encodeReset(11, code, reason))
      assert.equal(frame.type, FrameType.RESET)
      assert.deepEqual(decodeReset(frame.payload), { code, reason })
    }
    assert.equal(encodeReset(1, 1).length, HEADER_LENGTH + 4)
  })

  it('WINDOW carries a u32 increment', () => {
    for (const increment of [1, 131072, 0xffff_ffff]) {
      const frame = decodeFrame(encodeWindow(2, increment))
      assert.equal(frame.type, FrameType.WINDOW)
      assert.equal(decodeU32(frame.payload, 'WINDOW'), increment)
    }
  })

  it('GOAWAY is on stream 0 and carries last stream id and code', () => {
    const frame = decodeFrame(encodeGoAway(123456, 1))
    assert.equal(frame.type, FrameType.GOAWAY)
    assert.equal(frame.streamId, 0)
    assert.deepEqual(decodeGoAway(frame.payload), { lastStreamId: 123456, code: 1 })
  })

  it('names frames for logs without printing payloads', () => {
    assert.equal(frameTypeName(FrameType.WINDOW), 'WINDOW')
    assert.equal(frameTypeName(0x2a), 'UNKNOWN(0x2a)')
    assert.equal(stringifyFrame(decodeFrame(encodeData(3, Buffer.from('secret')))), 'DATA stream=3 len=6')
  })
})

describe('decode errors', () => {
  it('a message shorter than the 5-byte header is FRAME_TOO_SHORT', () => {
    for (let n = 0; n < HEADER_LENGTH; n++) {
      expectProtocolError(() => decodeFrame(Buffer.alloc(n, 3)), ProtocolErrorCode.FRAME_TOO_SHORT)
    }
  })

  it('an unknown type byte is UNKNOWN_FRAME_TYPE', () => {
    for (const type of [0x00, 0x09, 0x7f, 0xff]) {
      expectProtocolError(() => decodeFrame(Buffer.from([type, 0, 0, 0, 1])), ProtocolErrorCode.UNKNOWN_FRAME_TYPE)
    }
  })

  it('FLAG_END on END, RESET, WINDOW or GOAWAY is UNKNOWN_FRAME_TYPE; on OPEN, HEAD, DATA it is END', () => {
    for (const type of [FrameType.END, FrameType.RESET, FrameType.WINDOW, FrameType.GOAWAY, FrameType.TRAILERS]) {
      expectProtocolError(() => decodeFrame(Buffer.from([type | FLAG_END, 0, 0, 0, 1, 0, 0, 0, 0])), ProtocolErrorCode.UNKNOWN_FRAME_TYPE)
    }
    for (const type of [FrameType.OPEN, FrameType.HEAD, FrameType.DATA]) {
      const frame = decodeFrame(Buffer.from([type | FLAG_END, 0, 0, 0, 1]))
      assert.deepEqual([frame.type, frame.end], [type, true])
      assert.equal(decodeFrame(Buffer.from([type, 0, 0, 0, 1])).end, false)
    }
  })

  it('FLAG_BLOCKED belongs on DATA only; with FLAG_END both hold', () => {
    for (const type of [FrameType.OPEN, FrameType.HEAD, FrameType.END, FrameType.RESET, FrameType.WINDOW, FrameType.GOAWAY, FrameType.TRAILERS]) {
      expectProtocolError(() => decodeFrame(Buffer.from([type | FLAG_BLOCKED, 0, 0, 0, 1, 0, 0, 0, 0])), ProtocolErrorCode.UNKNOWN_FRAME_TYPE)
    }
    const both = decodeFrame(Buffer.from([FrameType.DATA | FLAG_BLOCKED | FLAG_END, 0, 0, 0, 1, 7]))
    assert.deepEqual([both.type, both.end, both.blocked], [FrameType.DATA, true, true])
    assert.equal(decodeFrame(Buffer.from([FrameType.DATA, 0, 0, 0, 1])).blocked, false)
  })

  it('WINDOW payloads other than 4 bytes are BAD_FRAME_PAYLOAD', () => {
    for (const n of [0, 3, 5, 8]) {
      expectProtocolError(() => decodeU32(Buffer.alloc(n), 'WINDOW'), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    }
  })

  it('RESET payloads under 4 bytes are BAD_FRAME_PAYLOAD', () => {
    for (const n of [0, 1, 3]) {
      expectProtocolError(() => decodeReset(Buffer.alloc(n)), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    }
  })

  it('GOAWAY payloads other than 8 bytes are BAD_FRAME_PAYLOAD', () => {
    for (const n of [0, 4, 7, 9]) {
      expectProtocolError(() => decodeGoAway(Buffer.alloc(n)), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    }
  })

  it('heads that are not JSON objects are BAD_FRAME_PAYLOAD, with the parse error as cause', () => {
    const notJson = expectProtocolError(() => decodeOpen(Buffer.from('{"method":')), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    assert.ok(notJson.cause instanceof SyntaxError)
    for (const text of ['', 'null', '[]', '"GET"', '42', 'true', '\xff\xfe']) {
      expectProtocolError(() => decodeOpen(Buffer.from(text)), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
      expectProtocolError(() => decodeHead(Buffer.from(text)), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    }
  })

  it('OPEN heads without a method, a /path or [name, value] string pairs are BAD_FRAME_PAYLOAD', () => {
    const bad: unknown[] = [
      { path: '/', headers: [] },
      { method: '', path: '/', headers: [] },
      { method: 7, path: '/', headers: [] },
      { method: 'GET', headers: [] },
      { method: 'GET', path: 'http://x/', headers: [] },
      { method: 'GET', path: '', headers: [] },
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/', headers: {} },
      { method: 'GET', path: '/', headers: [['a']] },
      { method: 'GET', path: '/', headers: [['a', 'b', 'c']] },
      { method: 'GET', path: '/', headers: [['a', 1]] },
      { method: 'GET', path: '/', headers: [[null, 'b']] },
      { method: 'GET', path: '/', headers: ['a: b'] },
    ]
    for (const value of bad) {
      expectProtocolError(() => decodeOpen(Buffer.from(JSON.stringify(value))), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    }
  })

  it('HEAD heads without an integer status in 100..999 or with bad headers are BAD_FRAME_PAYLOAD', () => {
    const bad: unknown[] = [
      { headers: [] },
      { status: '200', headers: [] },
      { status: 200.5, headers: [] },
      { status: 99, headers: [] },
      { status: 1000, headers: [] },
      { status: 200 },
      { status: 200, headers: [['a', 'b', 'c']] },
    ]
    for (const value of bad) {
      expectProtocolError(() => decodeHead(Buffer.from(JSON.stringify(value))), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    }
    assert.equal(decodeHead(Buffer.from('{"status":999,"headers":[]}')).status, 999)
    assert.equal(decodeHead(Buffer.from('{"status":100,"headers":[]}')).status, 100)
  })

  it('heads over MAX_HEAD_BYTES are refused before parsing; exactly MAX_HEAD_BYTES is accepted', () => {
    const sized = (size: number): Buffer => {
      const shell = JSON.stringify({ method: 'GET', path: '/', headers: [['x', '']] })
      const value = 'v'.repeat(size - Buffer.byteLength(shell))
      const buf = Buffer.from(JSON.stringify({ method: 'GET', path: '/', headers: [['x', value]] }))
      assert.equal(buf.length, size)
      return buf
    }
    const shellLength = Buffer.byteLength('{"method":"GET","path":"/","headers":[["x",""]]}')
    assert.equal(decodeOpen(sized(MAX_HEAD_BYTES)).headers[0]![1].length, MAX_HEAD_BYTES - shellLength)
    expectProtocolError(() => decodeOpen(sized(MAX_HEAD_BYTES + 1)), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
    // Refused by size even when the bytes are not JSON at all.
    expectProtocolError(() => decodeHead(Buffer.alloc(MAX_HEAD_BYTES + 1, 0x7b)), ProtocolErrorCode.BAD_FRAME_PAYLOAD)
  })

  it('ProtocolError has a stable name and code', () => {
    const error = expectProtocolError(() => decodeFrame(Buffer.alloc(0)), ProtocolErrorCode.FRAME_TOO_SHORT)
    assert.equal(error.name, 'ProtocolError')
    assert.ok(error instanceof Error)
    assert.match(error.code, /^ADIT_ERR_/)
  })
})
