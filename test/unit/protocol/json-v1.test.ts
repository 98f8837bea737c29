import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CONNECTION_LOST,
  JsonV1Session,
  ProtocolErrorCode,
  ResetCode,
  canonicalHeaderName,
  decodeJsonResponse,
  encodeJsonRequest,
  jsonV1Defaults,
  type JsonRequestFrame,
  type ProtocolError,
  type RequestHead,
} from '../../../src/protocol/index.js'
import { expectProtocolError } from './expect-protocol-error.js'
import { MemoryTransport, RecordingHandler } from './memory-transport.js'

const GET: RequestHead = { method: 'GET', path: '/', headers: [] }

describe('adit.json.v1 request encoding', () => {
  it('splits path and query, groups headers under canonical names, base64s the body', () => {
    const text = encodeJsonRequest(
      '9',
      {
        method: 'PUT',
        path: '/a/b?x=1&y=?2',
        headers: [
          ['x-forwarded-for', '1.2.3.4'],
          ['X-Forwarded-For', '5.6.7.8'],
          ['content-type', 'application/octet-stream'],
          ['www-authenticate', 'z'],
        ],
      },
      Buffer.from([0, 1, 2, 255]),
    )
    const frame = JSON.parse(text) as JsonRequestFrame
    assert.deepEqual(frame, {
      type: 'req',
      req_id: '9',
      method: 'PUT',
      path: '/a/b',
      query: 'x=1&y=?2',
      headers: {
        'X-Forwarded-For': ['1.2.3.4', '5.6.7.8'],
        'Content-Type': ['application/octet-stream'],
        'Www-Authenticate': ['z'],
      },
      body: 'AAEC/w==',
    })
  })

  it('names in any case land under one Go-canonical key, values in arrival order', () => {
    const frame = JSON.parse(
      encodeJsonRequest(
        '1',
        {
          method: 'GET',
          path: '/',
          headers: [
            ['CONTENT-TYPE', 'a'],
            ['content-type', 'b'],
            ['x-FORWARDED-for', 'c'],
            ['Etag', 'd'],
            ['x_under', 'e'],
          ],
        },
        Buffer.alloc(0),
      ),
    ) as JsonRequestFrame
    assert.deepEqual(frame.headers, { 'Content-Type': ['a', 'b'], 'X-Forwarded-For': ['c'], Etag: ['d'], X_under: ['e'] })
    assert.equal(canonicalHeaderName('www-authenticate'), 'Www-Authenticate')
  })

  it('a path without query has an empty query and an empty body is ""', () => {
    const frame = JSON.parse(encodeJsonRequest('1', GET, Buffer.alloc(0))) as JsonRequestFrame
    assert.deepEqual([frame.path, frame.query, frame.body, frame.headers], ['/', '', '', {}])
  })
})

describe('adit.json.v1 response decoding', () => {
  it('accepts headers as strings or arrays, a numeric req_id, a missing body, and a Buffer message', () => {
    const decoded = decodeJsonResponse(Buffer.from('{"type":"resp","req_id":3,"status":404,"headers":{"A":"1","B":["2","3"]}}'))
    assert.deepEqual(decoded, {
      reqId: '3',
      head: {
        status: 404,
        headers: [
          ['A', '1'],
          ['B', '2'],
          ['B', '3'],
        ],
      },
      body: Buffer.alloc(0),
    })
    assert.deepEqual(decodeJsonResponse('{"type":"resp","req_id":"x","status":200}')!.head.headers, [])
  })

  it('frames of another type are not errors: null (the session drops them)', () => {
    assert.equal(decodeJsonResponse('{"type":"ping"}'), null)
    assert.equal(decodeJsonResponse('{}'), null)
    assert.equal(decodeJsonResponse('[]'), null)
  })

  it('malformed resp frames are JSON_FRAME', () => {
    const bad = [
      'not json',
      '',
      'null',
      '42',
      '"resp"',
      '{"type":"resp","status":200}',
      '{"type":"resp","req_id":null,"status":200}',
      '{"type":"resp","req_id":"1"}',
      '{"type":"resp","req_id":"1","status":"200"}',
      '{"type":"resp","req_id":"1","status":99}',
      '{"type":"resp","req_id":"1","status":1000}',
      '{"type":"resp","req_id":"1","status":200.5}',
      '{"type":"resp","req_id":"1","status":200,"headers":null}',
      '{"type":"resp","req_id":"1","status":200,"headers":"A: 1"}',
      '{"type":"resp","req_id":"1","status":200,"headers":[["A","1"]]}',
      '{"type":"resp","req_id":"1","status":200,"headers":{"A":1}}',
      '{"type":"resp","req_id":"1","status":200,"headers":{"A":["1",2]}}',
      '{"type":"resp","req_id":"1","status":200,"body":5}',
    ]
    for (const text of bad) expectProtocolError(() => decodeJsonResponse(text), ProtocolErrorCode.JSON_FRAME)
  })
})

describe('JsonV1Session', () => {
  function setup(options: { maxBodyBytes?: number } = {}) {
    const transport = new MemoryTransport()
    const errors: ProtocolError[] = []
    const session = new JsonV1Session(transport, { ...options, onProtocolError: (e) => errors.push(e) })
    return { transport, errors, session }
  }

  it('buffers the request body, sends one req frame on end, and answers from one resp frame', () => {
    const { transport, session, errors } = setup()
    const handler = new RecordingHandler()
    const stream = session.openStream({ method: 'POST', path: '/x?q=1', headers: [['content-type', 'text/plain']] }, handler)!
    assert.equal(session.activeStreams, 1)
    const source = Buffer.from('hello ')
    assert.equal(stream.write(source), true)
    source.fill(0x21) // the source may reuse its buffer: the session kept a copy
    assert.equal(stream.write(Buffer.from('world')), true)
    assert.equal(transport.texts.length, 0, 'nothing is sent before the body is complete')
    stream.end()
    stream.end()
    assert.equal(transport.texts.length, 1)
    const req = JSON.parse(transport.texts[0]!) as JsonRequestFrame
    assert.equal(Buffer.from(req.body, 'base64').toString(), 'hello world')
    assert.equal(req.req_id, String(stream.id))

    session.receive(
      Buffer.from(JSON.stringify({ type: 'resp', req_id: req.req_id, status: 201, headers: { 'X-A': ['1'] }, body: Buffer.from('made').toString('base64') })),
    )
    assert.deepEqual(handler.kinds(), ['head', 'data', 'end'])
    assert.deepEqual(handler.events[0], { kind: 'head', status: 201, headers: [['X-A', '1']] })
    assert.equal(handler.body.toString(), 'made')
    assert.equal(session.activeStreams, 0)
    assert.equal(errors.length, 0)
    // consumed() is a no-op: JSON v1 has no flow control.
    stream.consumed(100)
  })

  it('an empty response body gives head and end, no data', () => {
    const { session } = setup()
    const handler = new RecordingHandler()
    session.openStream(GET, handler)!.end()
    session.receive(Buffer.from('{"type":"resp","req_id":"1","status":204}'))
    assert.deepEqual(handler.kinds(), ['head', 'end'])
  })

  it('a request body over maxBodyBytes resets the stream with TOO_LARGE and sends nothing', () => {
    const { transport, session } = setup({ maxBodyBytes: 10 })
    assert.equal(session.maxBodyBytes, 10)
    const handler = new RecordingHandler()
    const stream = session.openStream(GET, handler)!
    assert.equal(stream.write(Buffer.alloc(10)), true, 'exactly the cap is accepted')
    assert.equal(stream.write(Buffer.alloc(1)), false)
    assert.deepEqual(
      handler.events.map((e) => e.kind === 'reset' && e.code),
      [ResetCode.TOO_LARGE],
    )
    assert.equal(session.activeStreams, 0)
    assert.equal(stream.write(Buffer.alloc(1)), false)
    stream.end()
    assert.equal(transport.texts.length, 0)
    assert.equal(jsonV1Defaults.maxBodyBytes, 32 * 1024 * 1024)
  })

  it('responses for unknown, unfinished or reset requests, and frames of other types, are dropped and counted', () => {
    const { session, errors } = setup()
    const unfinished = new RecordingHandler()
    session.openStream(GET, unfinished)
    const cancelled = new RecordingHandler()
    const stream2 = session.openStream(GET, cancelled)!
    stream2.end()
    stream2.reset(ResetCode.CANCEL)
    session.receive(Buffer.from('{"type":"resp","req_id":"1","status":200}'))
    session.receive(Buffer.from('{"type":"resp","req_id":"2","status":200}'))
    session.receive(Buffer.from('{"type":"resp","req_id":"77","status":200}'))
    session.receive(Buffer.from('{"type":"hello"}'))
    assert.equal(session.droppedFrames, 4)
    assert.deepEqual(unfinished.events, [])
    assert.deepEqual(cancelled.events, [])
    assert.equal(errors.length, 0)
  })

  it('a malformed frame goes to onProtocolError with JSON_FRAME', () => {
    const { session, errors } = setup()
    session.receive(Buffer.from('{"type":"resp"'))
    assert.deepEqual(
      errors.map((e) => e.code),
      [ProtocolErrorCode.JSON_FRAME],
    )
  })

  it('goAway stops new streams; close resets open ones with CONNECTION_LOST and ignores what follows', () => {
    const { session, errors } = setup()
    const handler = new RecordingHandler()
    session.openStream(GET, handler)!.end()
    session.goAway()
    assert.equal(session.goingAway, true)
    assert.equal(session.openStream(GET, new RecordingHandler()), null)
    session.close('bye')
    session.close()
    assert.deepEqual(handler.events, [{ kind: 'reset', code: CONNECTION_LOST, reason: 'bye' }])
    session.receive(Buffer.from('garbage'))
    assert.equal(errors.length, 0)
    assert.equal(session.activeStreams, 0)
  })
})
