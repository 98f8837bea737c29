import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { requestHeadersFor, responseHeadersFor, type ForwardingContext } from '../../../src/server/forwarded-headers.js'

/** requestHeadersFor reads only `rawHeaders`; a stand-in keeps these tests free of sockets. */
function requestWith(raw: string[]): IncomingMessage {
  return { rawHeaders: raw } as unknown as IncomingMessage
}

const ctx: ForwardingContext = {
  clientIp: '203.0.113.7',
  proto: 'https',
  host: 'tunnel.example.com',
  prefix: '/pub/abc',
  requestId: 'req-1',
  trustProxy: false,
}

function all(pairs: Array<[string, string]>, name: string): string[] {
  return pairs.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v)
}

function one(pairs: Array<[string, string]>, name: string): string | undefined {
  const values = all(pairs, name)
  assert.ok(values.length <= 1, `${name} appears ${values.length} times`)
  return values[0]
}

test('request: hop-by-hop headers from the fixed list are stripped, end-to-end ones kept in order', () => {
  const out = requestHeadersFor(
    requestWith([
      'Host',
      'tunnel.example.com',
      'Connection',
      'keep-alive',
      'Keep-Alive',
      'timeout=5',
      'Proxy-Connection',
      'keep-alive',
      'Proxy-Authorization',
      'Basic eDp5',
      'TE',
      'gzip',
      'Proxy-Authenticate',
      'x',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'h2c',
      'Accept',
      'text/html',
      'Cookie',
      'a=1',
    ]),
    ctx,
    false,
  )
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'transfer-encoding', 'upgrade']) {
    assert.deepEqual(all(out, name), [], `${name} must not be forwarded`)
  }
  const endToEnd = out.filter(([n]) => ['host', 'accept', 'cookie'].includes(n.toLowerCase()))
  assert.deepEqual(endToEnd, [
    ['Host', 'tunnel.example.com'],
    ['Accept', 'text/html'],
    ['Cookie', 'a=1'],
  ])
})

test('request: Trailer passes (it announces a trailer section, which adit carries)', () => {
  assert.deepEqual(all(requestHeadersFor(requestWith(['Trailer', 'X-Checksum', 'Trailer', 'X-Other']), ctx, false), 'trailer'), ['X-Checksum, X-Other'])
})

test('request: TE is stripped, except that `trailers` in it goes on as `te: trailers` (adit carries trailers; gRPC needs it)', () => {
  assert.deepEqual(all(requestHeadersFor(requestWith(['TE', 'trailers', 'Connection', 'TE']), ctx, false), 'te'), ['trailers'])
  assert.deepEqual(all(requestHeadersFor(requestWith(['TE', 'gzip, Trailers;q=1']), ctx, false), 'te'), ['trailers'])
  assert.deepEqual(all(requestHeadersFor(requestWith(['TE', 'gzip, x-trailers']), ctx, false), 'te'), [])
})

test('request: headers named by Connection are stripped too', () => {
  const out = requestHeadersFor(requestWith(['Connection', 'close, X-Secret-Hop ,x-other', 'X-Secret-Hop', '1', 'X-OTHER', '2', 'X-Kept', '3']), ctx, false)
  assert.deepEqual(all(out, 'x-secret-hop'), [])
  assert.deepEqual(all(out, 'x-other'), [])
  assert.deepEqual(all(out, 'x-kept'), ['3'])
})

test('request: X-Forwarded-For/-Proto/-Host/-Prefix and Forwarded describe the public request', () => {
  const out = requestHeadersFor(requestWith(['Accept', '*/*']), ctx, false)
  assert.equal(one(out, 'x-forwarded-for'), '203.0.113.7')
  assert.equal(one(out, 'x-forwarded-proto'), 'https')
  assert.equal(one(out, 'x-forwarded-host'), 'tunnel.example.com')
  assert.equal(one(out, 'x-forwarded-prefix'), '/pub/abc')
  assert.equal(one(out, 'forwarded'), 'for=203.0.113.7;host=tunnel.example.com;proto=https')
})

test('request: no X-Forwarded-Prefix under host routing (empty prefix)', () => {
  const out = requestHeadersFor(requestWith([]), { ...ctx, prefix: '' }, false)
  assert.equal(one(out, 'x-forwarded-prefix'), undefined)
})

test('request: Forwarded quotes an IPv6 client and a host with a port (RFC 7239)', () => {
  const out = requestHeadersFor(requestWith([]), { ...ctx, clientIp: '2001:db8::1', host: 'example.com:8443', proto: 'http' }, false)
  assert.equal(one(out, 'forwarded'), 'for="[2001:db8::1]";host="example.com:8443";proto=http')
  // X-Forwarded-For carries the bare address, as proxies conventionally do.
  assert.equal(one(out, 'x-forwarded-for'), '2001:db8::1')
})

test('request: an untrusted client cannot forge X-Forwarded-* or Forwarded', () => {
  const out = requestHeadersFor(
    requestWith([
      'X-Forwarded-For',
      '10.0.0.1',
      'x-forwarded-proto',
      'http',
      'X-Forwarded-Host',
      'evil.example',
      'X-Forwarded-Prefix',
      '/admin',
      'X-Forwarded-Whatever',
      'x',
      'Forwarded',
      'for=10.0.0.1',
    ]),
    ctx,
    false,
  )
  assert.equal(one(out, 'x-forwarded-for'), '203.0.113.7')
  assert.equal(one(out, 'x-forwarded-proto'), 'https')
  assert.equal(one(out, 'x-forwarded-host'), 'tunnel.example.com')
  assert.equal(one(out, 'x-forwarded-prefix'), '/pub/abc')
  assert.deepEqual(all(out, 'x-forwarded-whatever'), [])
  assert.equal(one(out, 'forwarded'), 'for=203.0.113.7;host=tunnel.example.com;proto=https')
})

test('request: behind a trusted proxy the X-Forwarded-For and Forwarded chains are appended to', () => {
  const out = requestHeadersFor(
    requestWith(['X-Forwarded-For', '198.51.100.1, 10.0.0.2', 'Forwarded', 'for=198.51.100.1', 'X-Forwarded-For', '10.0.0.3', 'forwarded', 'for=10.0.0.3']),
    { ...ctx, trustProxy: true },
    false,
  )
  assert.equal(one(out, 'x-forwarded-for'), '198.51.100.1, 10.0.0.2, 10.0.0.3, 203.0.113.7')
  assert.equal(one(out, 'forwarded'), 'for=198.51.100.1, for=10.0.0.3, for=203.0.113.7;host=tunnel.example.com;proto=https')
})

test("request: X-Adit-Request-Id is the server's; a client-supplied one is dropped", () => {
  const out = requestHeadersFor(requestWith(['X-Adit-Request-Id', 'forged', 'x-adit-request-id', 'forged-again']), ctx, false)
  assert.deepEqual(all(out, 'x-adit-request-id'), ['req-1'])
  const trusted = requestHeadersFor(requestWith(['X-Adit-Request-Id', 'forged']), { ...ctx, trustProxy: true }, false)
  assert.deepEqual(all(trusted, 'x-adit-request-id'), ['req-1'])
})

test('request: keepUpgrade forwards Connection: upgrade and Upgrade for a WebSocket hand-off', () => {
  const out = requestHeadersFor(requestWith(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k']), ctx, true)
  assert.deepEqual(all(out, 'connection'), ['upgrade'])
  assert.deepEqual(all(out, 'upgrade'), ['websocket'])
  assert.deepEqual(all(out, 'sec-websocket-key'), ['k'])
})

test('response: absolute-path Location and Content-Location are put back under the prefix', () => {
  const out = responseHeadersFor(
    [
      ['Location', '/login?next=%2F'],
      ['content-location', '/docs/a.json'],
    ],
    '/pub/abc',
    false,
  )
  assert.deepEqual(out, [
    ['Location', '/pub/abc/login?next=%2F'],
    ['content-location', '/pub/abc/docs/a.json'],
  ])
})

test('response: absolute URLs, protocol-relative and relative Locations are left alone', () => {
  for (const value of ['https://elsewhere.example/x', 'http://127.0.0.1:3000/x', '//cdn.example/x', 'next/page', '../up', '?q=1']) {
    assert.deepEqual(responseHeadersFor([['Location', value]], '/pub/abc', false), [['Location', value]], value)
    assert.deepEqual(responseHeadersFor([['Content-Location', value]], '/pub/abc', false), [['Content-Location', value]], value)
  }
})

test('response: nothing is rewritten without a prefix (host routing)', () => {
  const pairs: Array<[string, string]> = [
    ['Location', '/x'],
    ['Set-Cookie', 'a=1; Path=/'],
  ]
  assert.deepEqual(responseHeadersFor(pairs, '', false), pairs)
})

test('response: Set-Cookie Path is put under the prefix; no Path and relative Path are left', () => {
  const rewrite = (cookie: string): string => {
    const out = responseHeadersFor([['Set-Cookie', cookie]], '/pub/abc', false)
    assert.equal(out.length, 1)
    return out[0]![1]
  }
  assert.equal(rewrite('sid=1; Path=/'), 'sid=1; Path=/pub/abc/')
  assert.equal(rewrite('sid=1; Path=/app; HttpOnly'), 'sid=1; Path=/pub/abc/app; HttpOnly')
  assert.equal(rewrite('sid=1; path=/app'), 'sid=1; path=/pub/abc/app')
  assert.equal(rewrite('sid=1;PATH=/app;Secure'), 'sid=1;PATH=/pub/abc/app;Secure')
  assert.equal(rewrite('sid=1; HttpOnly; Secure'), 'sid=1; HttpOnly; Secure')
  assert.equal(rewrite('sid=1; Path=relative'), 'sid=1; Path=relative')
  // The cookie's own name/value is not an attribute, even when called "path".
  assert.equal(rewrite('path=/x; Max-Age=5'), 'path=/x; Max-Age=5')
})

test('response: every Path attribute is rewritten, since the last one is the one browsers use', () => {
  const out = responseHeadersFor([['Set-Cookie', 'sid=1; Path=/a; Path=/b']], '/pub/abc', false)
  assert.deepEqual(out, [['Set-Cookie', 'sid=1; Path=/pub/abc/a; Path=/pub/abc/b']])
})

test('response: values with CR, LF or NUL are dropped, the rest kept', () => {
  const out = responseHeadersFor(
    [
      ['X-A', 'ok'],
      ['X-B', 'bad\r\nSet-Cookie: evil=1'],
      ['X-C', 'bad\nvalue'],
      ['X-D', 'bad\rvalue'],
      ['X-E', 'bad\0value'],
      ['Location', '/x\r\nX-Evil: 1'],
      ['X-F', 'ok too'],
    ],
    '/pub/abc',
    false,
  )
  assert.deepEqual(out, [
    ['X-A', 'ok'],
    ['X-F', 'ok too'],
  ])
})

test('response: repeated headers and several Set-Cookie stay separate and in order', () => {
  const out = responseHeadersFor(
    [
      ['Set-Cookie', 'a=1; Path=/'],
      ['Vary', 'Accept'],
      ['Set-Cookie', 'b=2'],
      ['Vary', 'Origin'],
      ['Set-Cookie', 'c=3; Path=/c'],
    ],
    '/pub/abc',
    false,
  )
  assert.deepEqual(out, [
    ['Set-Cookie', 'a=1; Path=/pub/abc/'],
    ['Vary', 'Accept'],
    ['Set-Cookie', 'b=2'],
    ['Vary', 'Origin'],
    ['Set-Cookie', 'c=3; Path=/pub/abc/c'],
  ])
})

test('response: hop-by-hop headers from the service are stripped', () => {
  const out = responseHeadersFor(
    [
      ['Connection', 'keep-alive, X-Hop'],
      ['Keep-Alive', 'timeout=5'],
      ['Transfer-Encoding', 'chunked'],
      ['X-Hop', '1'],
      ['Content-Type', 'text/plain'],
    ],
    '/pub/abc',
    false,
  )
  assert.deepEqual(out, [['Content-Type', 'text/plain']])
})
