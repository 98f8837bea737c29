import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseLocalTarget, parseTcpTarget } from '../../../src/agent/local-target.js'
import { ErrorCode } from '../../../src/errors.js'

test('a port, host:port or a URL become an origin', () => {
  assert.equal(parseLocalTarget('3000'), 'http://localhost:3000')
  assert.equal(parseLocalTarget(' 8080 '), 'http://localhost:8080')
  assert.equal(parseLocalTarget(':3000'), 'http://localhost:3000')
  assert.equal(parseLocalTarget('localhost:3000'), 'http://localhost:3000')
  assert.equal(parseLocalTarget('192.168.1.5:8080'), 'http://192.168.1.5:8080')
  assert.equal(parseLocalTarget('[::1]:3000'), 'http://[::1]:3000')
  assert.equal(parseLocalTarget('http://127.0.0.1:3000'), 'http://127.0.0.1:3000')
  assert.equal(parseLocalTarget('http://127.0.0.1:3000/'), 'http://127.0.0.1:3000')
  assert.equal(parseLocalTarget('https://127.0.0.1:8443'), 'https://127.0.0.1:8443')
  assert.equal(parseLocalTarget('myhost'), 'http://myhost')
  // HTTP/2 with prior knowledge (a gRPC server): URL has no origin for h2c:, the target keeps its own.
  assert.equal(parseLocalTarget('h2c://127.0.0.1:50051'), 'h2c://127.0.0.1:50051')
  assert.equal(parseLocalTarget('h2c://localhost:50051/'), 'h2c://localhost:50051')
})

test('what cannot be a local origin is refused, naming the forms that work', () => {
  for (const bad of [
    '0',
    '70000',
    'localhost:99999',
    'ftp://x:21',
    'http://127.0.0.1:3000/app',
    'localhost:3000?x=1',
    'http://u:p@h:1',
    'a b',
    'h2c://127.0.0.1:50051/x',
    'h2c://127.0.0.1:99999',
  ]) {
    assert.throws(
      () => parseLocalTarget(bad),
      (e: Error & { code?: string }) => e.code === ErrorCode.CONFIG,
      bad,
    )
  }
  assert.throws(() => parseLocalTarget('not a url'), /port \(3000\), host:port \(localhost:3000\) or a URL/)
})

test('a TCP target: a port or host:port (IPv6 in brackets), tcp:// allowed', () => {
  assert.deepEqual(parseTcpTarget('5432'), { host: 'localhost', port: 5432 })
  assert.deepEqual(parseTcpTarget(':22'), { host: 'localhost', port: 22 })
  assert.deepEqual(parseTcpTarget('db.internal:5432'), { host: 'db.internal', port: 5432 })
  assert.deepEqual(parseTcpTarget('tcp://10.0.0.5:6379'), { host: '10.0.0.5', port: 6379 })
  assert.deepEqual(parseTcpTarget('[::1]:2222'), { host: '::1', port: 2222 })
  for (const bad of ['', 'db', 'db:0', 'db:70000', 'http://x:1', 'a:b:1'])
    assert.throws(
      () => parseTcpTarget(bad),
      (e: { code?: string }) => e.code === ErrorCode.CONFIG,
      bad,
    )
})
