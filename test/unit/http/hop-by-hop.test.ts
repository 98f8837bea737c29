import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pairsFromRaw, rawFromPairs, stripHopByHop } from '../../../src/http/hop-by-hop.js'

test('the fixed hop-by-hop list is stripped in any letter case', () => {
  const out = stripHopByHop([
    ['CONNECTION', 'close'],
    ['Keep-Alive', 'timeout=5'],
    ['proxy-connection', 'keep-alive'],
    ['Proxy-Authenticate', 'Basic'],
    ['Proxy-Authorization', 'Basic eDp5'],
    ['te', 'trailers'],
    ['Trailer', 'X-Sum'],
    ['Transfer-Encoding', 'chunked'],
    ['Upgrade', 'websocket'],
    ['Content-Type', 'text/plain'],
  ])
  assert.deepEqual(out, [['Content-Type', 'text/plain']])
})

test('headers named by Connection are stripped, across several Connection headers', () => {
  const out = stripHopByHop([
    ['Connection', ' X-A ,, x-b'],
    ['connection', 'X-C'],
    ['x-a', '1'],
    ['X-B', '2'],
    ['X-C', '3'],
    ['X-D', '4'],
  ])
  assert.deepEqual(out, [['X-D', '4']])
})

test('without a Connection header only the fixed list goes', () => {
  const pairs: Array<[string, string]> = [
    ['Host', 'a'],
    ['X-A', '1'],
    ['X-A', '2'],
  ]
  assert.deepEqual(stripHopByHop(pairs), pairs)
})

test('keepUpgrade keeps Upgrade and a normalised Connection: upgrade, still stripping other hops', () => {
  const out = stripHopByHop(
    [
      ['Connection', 'keep-alive, Upgrade, X-Hop'],
      ['Upgrade', 'websocket'],
      ['X-Hop', '1'],
      ['Keep-Alive', 'timeout=5'],
      ['Sec-WebSocket-Key', 'k'],
    ],
    true,
  )
  assert.deepEqual(out, [
    ['Connection', 'upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Key', 'k'],
  ])
})

test('without keepUpgrade an upgrade request loses Connection and Upgrade', () => {
  const out = stripHopByHop([
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Key', 'k'],
  ])
  assert.deepEqual(out, [['Sec-WebSocket-Key', 'k']])
})

test('pairsFromRaw and rawFromPairs round-trip and keep repeats apart', () => {
  const raw = ['Set-Cookie', 'a=1', 'Vary', 'Accept', 'Set-Cookie', 'b=2']
  const pairs = pairsFromRaw(raw)
  assert.deepEqual(pairs, [
    ['Set-Cookie', 'a=1'],
    ['Vary', 'Accept'],
    ['Set-Cookie', 'b=2'],
  ])
  assert.deepEqual(rawFromPairs(pairs), raw)
  // A dangling name without a value is ignored rather than paired with undefined.
  assert.deepEqual(pairsFromRaw(['X-A', '1', 'X-B']), [['X-A', '1']])
})
