import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isValidTunnelId, routePub } from '../../../src/server/tunnel-routes.js'

test('/pub/{id}/rest routes to the tunnel with the prefix stripped', () => {
  assert.deepEqual(routePub('/pub/abc123/'), { kind: 'tunnel', id: 'abc123', prefix: '/pub/abc123', path: '/' })
  assert.deepEqual(routePub('/pub/abc123/api/items?page=2'), { kind: 'tunnel', id: 'abc123', prefix: '/pub/abc123', path: '/api/items?page=2' })
})

test('/pub/{id} without its slash redirects to /pub/{id}/, keeping the query', () => {
  assert.deepEqual(routePub('/pub/abc123'), { kind: 'redirect', location: '/pub/abc123/' })
  assert.deepEqual(routePub('/pub/abc123?q=1&r=/x'), { kind: 'redirect', location: '/pub/abc123/?q=1&r=/x' })
})

test('dot segments and encoded slashes in the rest of the path never change the tunnel id', () => {
  const cases: Array<[string, string]> = [
    ['/pub/abc/../other/', '/../other/'],
    ['/pub/abc/%2e%2e/other/', '/%2e%2e/other/'],
    ['/pub/abc/%2E%2E%2Fother/', '/%2E%2E%2Fother/'],
    ['/pub/abc/..%2f..%2fpub%2fother/', '/..%2f..%2fpub%2fother/'],
    ['/pub/abc/./../../pub/other', '/./../../pub/other'],
  ]
  for (const [url, path] of cases) {
    assert.deepEqual(routePub(url), { kind: 'tunnel', id: 'abc', prefix: '/pub/abc', path }, url)
  }
})

test('an id that is not a DNS label is refused, whatever follows it', () => {
  for (const url of [
    '/pub/',
    '/pub//x',
    '/pub/..',
    '/pub/../abc/',
    '/pub/%2e%2e/abc/',
    '/pub/abc%2fother/',
    '/pub/ABC/',
    '/pub/-abc/',
    '/pub/abc-/',
    '/pub/a_b/',
    '/pub/a.b/',
    `/pub/${'a'.repeat(64)}/`,
    '/pub/?x',
  ]) {
    assert.deepEqual(routePub(url), { kind: 'bad-id' }, url)
  }
})

test('isValidTunnelId accepts lowercase DNS labels up to 63 characters', () => {
  assert.equal(isValidTunnelId('a'), true)
  assert.equal(isValidTunnelId('abc-123'), true)
  assert.equal(isValidTunnelId('a'.repeat(63)), true)
  assert.equal(isValidTunnelId('a'.repeat(64)), false)
  assert.equal(isValidTunnelId(''), false)
  assert.equal(isValidTunnelId('a b'), false)
  assert.equal(isValidTunnelId('abc\n'), false)
})
