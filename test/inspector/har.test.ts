import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { viewBody } from '../../src/inspector/body-view.js'
import { CapturedBody } from '../../src/inspector/captured-body.js'
import { buildHar, defaultRedactedHeaders, joinUrl, redactedValue } from '../../src/inspector/har.js'
import { RequestLog } from '../../src/inspector/request-log.js'
import { feedExchange } from './feed.js'

interface HarHeader {
  name: string
  value: string
}
interface HarEntry {
  request: { url: string; headers: HarHeader[]; queryString: HarHeader[]; postData?: { text: string; mimeType: string }; bodySize: number }
  response: { status: number; headers: HarHeader[]; content: { text: string; encoding?: string; comment?: string; mimeType: string } }
  time: number
}

function sampleLog(): RequestLog {
  const log = new RequestLog({ maxBodyBytes: 8, maxTotalBodyBytes: 1024 })
  feedExchange(log, {
    id: 'a',
    method: 'POST',
    path: '/login?next=%2Fhome&x=1',
    headers: [
      ['Authorization', 'Bearer s3cret'],
      ['Cookie', 'sid=abc'],
      ['X-Api-Key', 'k-123'],
      ['Content-Type', 'application/json'],
    ],
    requestBody: Buffer.from('{"a":1}'),
    status: 302,
    responseHeaders: [
      ['Set-Cookie', 'sid=def; HttpOnly'],
      ['Location', '/home'],
      ['Content-Type', 'image/png'],
    ],
    responseBody: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 4, 5]),
    durationMs: 12,
  })
  return log
}

function entries(log: RequestLog, redact: Iterable<string>): HarEntry[] {
  const har = buildHar(log.list().reverse(), {
    baseUrl: 'https://t.example/pub/abc/',
    redactHeaders: new Set(redact),
    creatorVersion: '1.2.3',
    maxDecodedBytes: 1 << 20,
  })
  assert.equal(har.log.version, '1.2')
  return har.log.entries as HarEntry[]
}

test('HAR export redacts Authorization, Cookie, Set-Cookie and configured headers by default', () => {
  const [entry] = entries(sampleLog(), [...defaultRedactedHeaders, 'x-api-key'])
  assert.ok(entry)
  const value = (headers: HarHeader[], name: string): string | undefined => headers.find((h) => h.name.toLowerCase() === name)?.value
  assert.equal(value(entry.request.headers, 'authorization'), redactedValue)
  assert.equal(value(entry.request.headers, 'cookie'), redactedValue)
  assert.equal(value(entry.request.headers, 'x-api-key'), redactedValue)
  assert.equal(value(entry.response.headers, 'set-cookie'), redactedValue)
  assert.equal(value(entry.request.headers, 'content-type'), 'application/json')
  const text = JSON.stringify(entry)
  for (const secret of ['s3cret', 'sid=abc', 'sid=def', 'k-123']) assert.ok(!text.includes(secret), `${secret} leaked into the HAR`)
})

test('HAR export keeps the values when redaction is off', () => {
  const [entry] = entries(sampleLog(), [])
  assert.equal(entry?.request.headers.find((h) => h.name === 'Authorization')?.value, 'Bearer s3cret')
})

test('HAR entries carry URL, query, bodies (base64 for binary) and a note on truncation', () => {
  const [entry] = entries(sampleLog(), defaultRedactedHeaders)
  assert.ok(entry)
  assert.equal(entry.request.url, 'https://t.example/pub/abc/login?next=%2Fhome&x=1')
  assert.deepEqual(entry.request.queryString, [
    { name: 'next', value: '/home' },
    { name: 'x', value: '1' },
  ])
  assert.equal(entry.request.postData?.text, '{"a":1}')
  assert.equal(entry.request.postData?.mimeType, 'application/json')
  assert.equal(entry.response.status, 302)
  assert.equal(entry.response.content.encoding, 'base64')
  assert.deepEqual([...Buffer.from(entry.response.content.text, 'base64')], [0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3])
  assert.match(entry.response.content.comment ?? '', /truncated: 8 of 10/)
  assert.equal(entry.time, 12)
})

test('joinUrl neither doubles nor drops the slash', () => {
  assert.equal(joinUrl('http://h/pub/x/', '/a'), 'http://h/pub/x/a')
  assert.equal(joinUrl('http://h', '/a?b'), 'http://h/a?b')
  assert.equal(joinUrl('http://h/', 'a'), 'http://h/a')
})

function captured(bytes: Buffer, limit = 1 << 20): CapturedBody {
  const body = new CapturedBody(limit)
  body.append(bytes, limit)
  return body
}

test('bodies show as UTF-8 text when they are text, base64 otherwise', () => {
  assert.deepEqual((({ encoding, data }) => ({ encoding, data }))(viewBody(captured(Buffer.from('héllo')), [['content-type', 'text/plain']], 1 << 20)), {
    encoding: 'utf8',
    data: 'héllo',
  })
  const json = viewBody(captured(Buffer.from('{"x":1}')), [['Content-Type', 'application/vnd.api+json']], 1 << 20)
  assert.equal(json.encoding, 'utf8')
  const png = viewBody(captured(Buffer.from([0x89, 0x50])), [['content-type', 'image/png']], 1 << 20)
  assert.equal(png.encoding, 'base64')
  assert.equal(png.data, Buffer.from([0x89, 0x50]).toString('base64'))
  // No content type: text if it decodes and has no binary control bytes.
  assert.equal(viewBody(captured(Buffer.from('plain\n')), [], 1 << 20).encoding, 'utf8')
  assert.equal(viewBody(captured(Buffer.from([0x00, 0x01, 0x41])), [], 1 << 20).encoding, 'base64')
  // Declared text that is not valid UTF-8 is shown as bytes.
  assert.equal(viewBody(captured(Buffer.from([0xff, 0xfe, 0x41])), [['content-type', 'text/plain']], 1 << 20).encoding, 'base64')
})

test('a body cut in the middle of a UTF-8 character still shows as text', () => {
  const body = new CapturedBody(6)
  body.append(Buffer.from('abcdeé'), 6) // é is two bytes; only its first is kept
  const view = viewBody(body, [['content-type', 'text/plain']], 1 << 20)
  assert.equal(view.truncated, true)
  assert.equal(view.encoding, 'utf8')
  assert.equal(view.data, 'abcde')
})

test('gzip bodies are shown decompressed, within a cap', () => {
  const zipped = gzipSync(Buffer.from('{"hello":"world"}'))
  const view = viewBody(
    captured(zipped),
    [
      ['content-type', 'application/json'],
      ['content-encoding', 'gzip'],
    ],
    1 << 20,
  )
  assert.equal(view.decoded, true)
  assert.equal(view.data, '{"hello":"world"}')
  const bomb = gzipSync(Buffer.alloc(1 << 20))
  const capped = viewBody(captured(bomb), [['content-encoding', 'gzip']], 1024)
  assert.equal(capped.decoded, false)
  assert.equal(capped.keptBytes, bomb.length)
})
