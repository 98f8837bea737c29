import assert from 'node:assert/strict'
import { test } from 'node:test'
import { trailerFields, trailerObject, trailerPairs } from '../../../src/http/trailer-fields.js'

test('trailer fields: framing, routing, auth, content and hop-by-hop fields never pass; the rest keep their order', () => {
  const raw = [
    'grpc-status',
    '0',
    'Content-Length',
    '5',
    'host',
    'x',
    'X-Sum',
    'a',
    'Transfer-Encoding',
    'chunked',
    ':status',
    '200',
    'x-sum',
    'b',
    'Set-Cookie',
    'c=1',
  ]
  assert.deepEqual(trailerFields(raw), [
    ['grpc-status', '0'],
    ['X-Sum', 'a'],
    ['x-sum', 'b'],
  ])
  assert.deepEqual(trailerFields(undefined), [])
  assert.deepEqual(
    trailerPairs([
      ['TE', 'trailers'],
      ['grpc-message', 'ok'],
    ]),
    [['grpc-message', 'ok']],
  )
})

test('trailerObject keeps repeated names as arrays, names lower-cased (node:http and node:http2 take it alike)', () => {
  assert.deepEqual(
    trailerObject([
      ['X-Sum', 'a'],
      ['x-sum', 'b'],
      ['grpc-status', '0'],
    ]),
    { 'x-sum': ['a', 'b'], 'grpc-status': '0' },
  )
})
