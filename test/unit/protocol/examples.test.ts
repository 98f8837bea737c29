import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  FrameType,
  GoAwayCode,
  INITIAL_WINDOW,
  MAX_DATA_PAYLOAD,
  MAX_HEAD_BYTES,
  ProtocolErrorCode,
  ResetCode,
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
  encodeJsonRequest,
  encodeOpen,
  encodeReset,
  encodeTrailers,
  encodeWindow,
} from '../../../src/protocol/index.js'
import * as ex from './examples.js'

const docPath = new URL('../../../../docs/protocol.md', import.meta.url)

describe('docs/protocol.md byte-level examples', () => {
  it('OPEN', () => {
    const bytes = encodeOpen(ex.openExample.streamId, ex.openExample.head)
    assert.equal(ex.toHex(bytes), ex.openExample.hex)
    assert.equal(bytes.subarray(5).toString(), ex.openExample.json)
    const frame = decodeFrame(ex.fromHex(ex.openExample.hex))
    assert.deepEqual([frame.type, frame.streamId], [FrameType.OPEN, 1])
    assert.deepEqual(decodeOpen(frame.payload), ex.openExample.head)
  })

  it('HEAD', () => {
    const bytes = encodeHead(ex.headExample.streamId, ex.headExample.head)
    assert.equal(ex.toHex(bytes), ex.headExample.hex)
    assert.equal(bytes.subarray(5).toString(), ex.headExample.json)
    const frame = decodeFrame(ex.fromHex(ex.headExample.hex))
    assert.deepEqual([frame.type, frame.streamId], [FrameType.HEAD, 1])
    assert.deepEqual(decodeHead(frame.payload), ex.headExample.head)
  })

  it('DATA', () => {
    assert.equal(ex.toHex(encodeData(ex.dataExample.streamId, Buffer.from(ex.dataExample.data))), ex.dataExample.hex)
    const frame = decodeFrame(ex.fromHex(ex.dataExample.hex))
    assert.deepEqual([frame.type, frame.streamId, frame.payload.toString()], [FrameType.DATA, 1, 'hello'])
  })

  it('OPEN with FLAG_END (a bodiless request, end-flag negotiated)', () => {
    const bytes = encodeOpen(ex.openEndExample.streamId, ex.openEndExample.head, true)
    assert.equal(ex.toHex(bytes), ex.openEndExample.hex)
    assert.equal(bytes.subarray(5).toString(), ex.openEndExample.json)
    const frame = decodeFrame(ex.fromHex(ex.openEndExample.hex))
    assert.deepEqual([frame.type, frame.streamId, frame.end], [FrameType.OPEN, 1, true])
    assert.deepEqual(decodeOpen(frame.payload), ex.openEndExample.head)
  })

  it('DATA with FLAG_END (the last bytes of a body, end-flag negotiated)', () => {
    assert.equal(ex.toHex(encodeData(ex.dataEndExample.streamId, Buffer.from(ex.dataEndExample.data), true)), ex.dataEndExample.hex)
    const frame = decodeFrame(ex.fromHex(ex.dataEndExample.hex))
    assert.deepEqual([frame.type, frame.streamId, frame.payload.toString(), frame.end], [FrameType.DATA, 1, 'hello', true])
  })

  it('DATA with FLAG_BLOCKED (the sender ran out of credit, window-blocked negotiated)', () => {
    assert.equal(ex.toHex(encodeData(ex.dataBlockedExample.streamId, Buffer.from(ex.dataBlockedExample.data), false, true)), ex.dataBlockedExample.hex)
    const frame = decodeFrame(ex.fromHex(ex.dataBlockedExample.hex))
    assert.deepEqual([frame.type, frame.streamId, frame.payload.toString(), frame.end, frame.blocked], [FrameType.DATA, 1, 'hello', false, true])
  })

  it('END', () => {
    assert.equal(ex.toHex(encodeEnd(ex.endExample.streamId)), ex.endExample.hex)
    const frame = decodeFrame(ex.fromHex(ex.endExample.hex))
    assert.deepEqual([frame.type, frame.streamId, frame.payload.length], [FrameType.END, 1, 0])
  })

  it('RESET', () => {
    const { streamId, code, reason, hex } = ex.resetExample
    assert.equal(ex.toHex(encodeReset(streamId, code, reason)), hex)
    const frame = decodeFrame(ex.fromHex(hex))
    assert.deepEqual([frame.type, frame.streamId], [FrameType.RESET, 1])
    assert.deepEqual(decodeReset(frame.payload), { code, reason })
  })

  it('WINDOW', () => {
    const { streamId, increment, hex } = ex.windowExample
    assert.equal(ex.toHex(encodeWindow(streamId, increment)), hex)
    const frame = decodeFrame(ex.fromHex(hex))
    assert.deepEqual([frame.type, frame.streamId, decodeU32(frame.payload, 'WINDOW')], [FrameType.WINDOW, 1, increment])
  })

  it('GOAWAY', () => {
    const { lastStreamId, code, hex } = ex.goAwayExample
    assert.equal(ex.toHex(encodeGoAway(lastStreamId, code)), hex)
    const frame = decodeFrame(ex.fromHex(hex))
    assert.deepEqual([frame.type, frame.streamId], [FrameType.GOAWAY, 0])
    assert.deepEqual(decodeGoAway(frame.payload), { lastStreamId, code })
  })

  it('TRAILERS (trailers negotiated)', () => {
    const { streamId, trailers, json, hex } = ex.trailersExample
    const bytes = encodeTrailers(streamId, trailers)
    assert.equal(ex.toHex(bytes), hex)
    assert.equal(bytes.subarray(5).toString(), json)
    const frame = decodeFrame(ex.fromHex(hex))
    assert.deepEqual([frame.type, frame.streamId, frame.end], [FrameType.TRAILERS, 1, false])
    assert.deepEqual(decodeTrailers(frame.payload), trailers)
  })

  it('JSON v1 request and response', () => {
    const req = ex.jsonRequestExample
    assert.equal(encodeJsonRequest(req.reqId, req.head, Buffer.from(req.body)), req.text)
    const res = ex.jsonResponseExample
    const decoded = decodeJsonResponse(res.text)
    assert.ok(decoded !== null)
    assert.equal(decoded.reqId, req.reqId)
    assert.deepEqual(decoded.head, { status: res.status, headers: res.headers })
    assert.equal(decoded.body.toString(), res.body)
  })

  it('the doc shows every example exactly as the fixtures hold it', () => {
    const doc = readFileSync(docPath, 'utf8')
    const wanted = [
      ex.openExample.hex,
      ex.openExample.json,
      ex.headExample.hex,
      ex.headExample.json,
      ex.dataExample.hex,
      ex.endExample.hex,
      ex.openEndExample.hex,
      ex.openEndExample.json,
      ex.dataEndExample.hex,
      ex.dataBlockedExample.hex,
      ex.resetExample.hex,
      ex.windowExample.hex,
      ex.goAwayExample.hex,
      ex.trailersExample.hex,
      ex.trailersExample.json,
      ex.jsonRequestExample.text,
      ex.jsonResponseExample.text,
    ]
    // Long hex lines are wrapped in the doc: compare with whitespace collapsed.
    const flat = doc.replace(/\s+/g, ' ')
    for (const text of wanted) assert.ok(flat.includes(text), `docs/protocol.md lacks: ${text}`)
  })

  it('the doc lists every frame type, reset code, GOAWAY code and error code with its number', () => {
    const doc = readFileSync(docPath, 'utf8')
    for (const [name, value] of Object.entries(FrameType)) {
      const row = `| \`0x${value.toString(16).padStart(2, '0')}\` | ${name} |`
      assert.ok(doc.includes(row), `docs/protocol.md lacks the frame row: ${row}`)
    }
    for (const [name, value] of Object.entries(ResetCode)) {
      const row = `| ${value} | \`${name}\` |`
      assert.ok(doc.includes(row), `docs/protocol.md lacks the reset code row: ${row}`)
    }
    for (const [name, value] of Object.entries(GoAwayCode)) {
      const row = `| ${value} | \`${name}\` |`
      assert.ok(doc.includes(row), `docs/protocol.md lacks the GOAWAY code row: ${row}`)
    }
    for (const code of Object.values(ProtocolErrorCode)) {
      assert.ok(doc.includes(`\`${code}\``), `docs/protocol.md does not explain ${code}`)
    }
    // The numbers the prose quotes.
    assert.equal(INITIAL_WINDOW, 256 * 1024)
    assert.equal(MAX_DATA_PAYLOAD, 64 * 1024)
    assert.equal(MAX_HEAD_BYTES, 256 * 1024)
    assert.ok(doc.includes('**256 KiB** (`INITIAL_WINDOW`)') && doc.includes('64 KiB (`MAX_DATA_PAYLOAD`)') && doc.includes('256 KiB (`MAX_HEAD_BYTES`)'))
  })
})
