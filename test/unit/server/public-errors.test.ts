import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sendPublicError } from '../../../src/server/public-errors.js'
import { publicErrors, type PublicErrorCode } from '../../../src/errors.js'

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** A real node:http server on loopback, port 0; `respond` runs for every request. */
async function serve(t: TestContext, respond: (res: ServerResponse, url: URL) => void): Promise<string> {
  const server = createServer((req, res) => respond(res, new URL(req.url ?? '/', 'http://x')))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function get(url: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

test('every public error: its status, x-adit-error, the request id, and a one-line body that says so', async (t) => {
  const base = await serve(t, (res, url) => sendPublicError(res, url.searchParams.get('code') as PublicErrorCode, url.searchParams.get('id') ?? ''))
  const codes = Object.keys(publicErrors) as PublicErrorCode[]
  assert.ok(codes.length > 0)
  for (const code of codes) {
    const requestId = `rid-${code.toLowerCase()}`
    const reply = await get(`${base}/?code=${code}&id=${requestId}`)
    const { status, text } = publicErrors[code]
    assert.equal(reply.status, status, code)
    assert.equal(reply.headers['x-adit-error'], code)
    assert.equal(reply.headers['x-adit-request-id'], requestId)
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8')
    assert.equal(reply.headers['cache-control'], 'no-store')
    assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(reply.body))
    assert.equal(reply.body, `${status} ${text} [request id ${requestId}]\n`)
    assert.equal(reply.body.indexOf('\n'), reply.body.length - 1, 'one line')
  }
})

test('the error codes map to the statuses the design promises', () => {
  assert.equal(publicErrors.ADIT_ERR_UNKNOWN_TUNNEL.status, 404)
  assert.equal(publicErrors.ADIT_ERR_AGENT_NOT_CONNECTED.status, 502)
  assert.equal(publicErrors.ADIT_ERR_AGENT_TIMEOUT.status, 504)
  assert.equal(publicErrors.ADIT_ERR_BODY_TOO_LARGE.status, 413)
})

test('a detail is added in parentheses; extra headers are sent', async (t) => {
  const base = await serve(t, (res) => sendPublicError(res, 'ADIT_ERR_SHUTTING_DOWN', 'r1', 'draining', { 'retry-after': '1' }))
  const reply = await get(base)
  assert.equal(reply.status, 503)
  assert.equal(reply.headers['retry-after'], '1')
  assert.equal(reply.body, `503 ${publicErrors.ADIT_ERR_SHUTTING_DOWN.text} (draining) [request id r1]\n`)
})

test("a detail with line breaks (e.g. an agent's reset reason) still yields a one-line body", async (t) => {
  const base = await serve(t, (res) => sendPublicError(res, 'ADIT_ERR_STREAM_RESET', 'r2', 'first line\r\nsecond line\nthird'))
  const reply = await get(base)
  assert.equal(reply.status, 502)
  assert.equal(reply.body.indexOf('\n'), reply.body.length - 1, JSON.stringify(reply.body))
  assert.ok(!reply.body.includes('\r'))
  assert.match(reply.body, /\(first line second line third\) \[request id r2\]\n$/)
})

test('once the response head has gone, the connection is cut instead', async (t) => {
  const base = await serve(t, (res) => {
    res.writeHead(200, { 'content-length': '100' })
    res.write('partial')
    sendPublicError(res, 'ADIT_ERR_AGENT_TIMEOUT', 'r3')
  })
  await assert.rejects(get(base), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET' || error.message === 'aborted')
})

test('on a gRPC request (content-type application/grpc*) every public error is a gRPC status: HTTP 200, grpc-status, percent-encoded grpc-message, no body', async (t) => {
  const { encodeGrpcMessage } = await import('../../../src/server/public-errors.js')
  const base = await serve(t, (res, url) => sendPublicError(res, url.searchParams.get('code') as PublicErrorCode, 'g1', 'détail', { 'retry-after': '2' }))
  const post = (code: string, contentType: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request(`${base}/?code=${code}`, { method: 'POST', agent: false, headers: { 'content-type': contentType } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      })
      req.on('error', reject)
      req.end()
    })
  const expected: Record<string, string> = {
    ADIT_ERR_AGENT_NOT_CONNECTED: '14',
    ADIT_ERR_AGENT_RECONNECTING: '14',
    ADIT_ERR_AGENT_TIMEOUT: '4',
    ADIT_ERR_LOCAL_UNREACHABLE: '14',
  }
  for (const [code, status] of Object.entries(expected)) {
    const reply = await post(code, 'application/grpc+proto')
    assert.equal(reply.status, 200, code)
    assert.equal(reply.headers['grpc-status'], status, code)
    assert.equal(reply.headers['content-type'], 'application/grpc')
    assert.equal(reply.headers['x-adit-error'], code)
    assert.equal(reply.headers['retry-after'], '2')
    assert.equal(reply.body, '')
    const message = decodeURIComponent(String(reply.headers['grpc-message']))
    assert.equal(message, publicErrorBodyFor(code as PublicErrorCode, 'g1', 'détail'))
  }
  const web = await post('ADIT_ERR_AGENT_TIMEOUT', 'application/grpc-web+proto; charset=x')
  assert.deepEqual([web.status, web.headers['grpc-status'], web.headers['content-type']], [200, '4', 'application/grpc-web+proto'])
  // Not gRPC: the plain answer.
  assert.equal((await post('ADIT_ERR_AGENT_TIMEOUT', 'application/json')).status, 504)
  assert.equal(encodeGrpcMessage('50% é\n'), '50%25 %C3%A9%0A')
})

function publicErrorBodyFor(code: PublicErrorCode, requestId: string, detail: string): string {
  const { status, text } = publicErrors[code]
  return `${status} ${text} (${detail}) [request id ${requestId}]`
}
