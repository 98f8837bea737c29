import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2'
import { request } from 'undici'
import { startServer, type RunningServer } from '../../src/server/server.js'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
import { startLocalService, patternHash, type LocalService } from '../harness/local-service.js'

/** One HTTP/2 request with prior knowledge; body read whole. */
function h2Request(session: ClientHttp2Session, headers: Record<string, string>, body?: Buffer): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined })
    const chunks: Buffer[] = []
    let head: IncomingHttpHeaders = {}
    stream.on('response', (h) => (head = h))
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve({ headers: head, body: Buffer.concat(chunks) }))
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

describe('--h2c: HTTP/2 prior knowledge and HTTP/1.1 on one port', () => {
  let service: LocalService
  let server: RunningServer
  let tunnel: Tunnel
  let session: ClientHttp2Session

  before(async () => {
    service = await startLocalService()
    server = await startServer({ host: '127.0.0.1', port: 0, h2c: true })
    // The agent's WebSocket is HTTP/1.1 on the same port.
    tunnel = await connect({ server: server.url, local: service.url, stateFile: null })
    session = http2Connect(server.url)
    session.on('error', () => {})
  })
  after(async () => {
    session?.close()
    await tunnel?.close()
    await server?.close()
    await service?.close()
  })

  it('serves /pub over h2c through the same proxy path, prefix stripped and forwarded headers set', async () => {
    const path = new URL(tunnel.publicUrl).pathname
    const res = await h2Request(session, { ':method': 'GET', ':path': `${path}echo/h2?x=1`, 'user-agent': 'h2-test' })
    assert.equal(res.headers[':status'], 200)
    const echo = JSON.parse(res.body.toString()) as { url: string; headers: Record<string, string> }
    assert.equal(echo.url, '/echo/h2?x=1')
    assert.equal(echo.headers['x-forwarded-prefix'], path.slice(0, -1))
    assert.equal(echo.headers['x-forwarded-host'], new URL(server.url).host)
    assert.equal(echo.headers['user-agent'], 'h2-test')
    assert.ok(!Object.keys(echo.headers).some((name) => name.startsWith(':')), 'no pseudo-headers reach the service')
    assert.match(echo.headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    assert.ok(res.headers['x-adit-request-id'])
  })

  it('streams an upload larger than one flow-control window over h2c', async () => {
    const path = new URL(tunnel.publicUrl).pathname
    const body = Buffer.alloc(3 * 1024 * 1024, 7)
    const res = await h2Request(session, { ':method': 'POST', ':path': `${path}echo/upload`, 'content-length': String(body.length) }, body)
    assert.equal(res.headers[':status'], 200)
    const echo = JSON.parse(res.body.toString()) as { length: number }
    assert.equal(echo.length, body.length)
  })

  it('streams an upload that has no content-length (HTTP/2 frames it by DATA frames, as gRPC clients send it)', async () => {
    const path = new URL(tunnel.publicUrl).pathname
    const body = Buffer.alloc(300 * 1024, 9)
    const res = await h2Request(session, { ':method': 'POST', ':path': `${path}echo/upload` }, body)
    assert.equal(res.headers[':status'], 200)
    const echo = JSON.parse(res.body.toString()) as { length: number }
    assert.equal(echo.length, body.length, 'the body reached the service whole (it used to be dropped: the request was sent bodiless)')
  })

  it('streams a download over h2c', async () => {
    const path = new URL(tunnel.publicUrl).pathname
    const size = 2 * 1024 * 1024 + 5
    const res = await h2Request(session, { ':method': 'GET', ':path': `${path}bytes/${size}` })
    assert.equal(res.body.length, size)
    const { createHash } = await import('node:crypto')
    assert.equal(createHash('sha256').update(res.body).digest('hex'), patternHash(size))
  })

  it('answers the plain routes over h2c too', async () => {
    const res = await h2Request(session, { ':method': 'GET', ':path': '/healthz' })
    assert.equal(res.headers[':status'], 200)
    assert.equal(res.body.toString(), 'ok\n')
    const missing = await h2Request(session, { ':method': 'GET', ':path': '/pub/aaaaaaaaaaaaaaaa/' })
    assert.equal(missing.headers[':status'], 404)
    assert.equal(missing.headers['x-adit-error'], 'ADIT_ERR_UNKNOWN_TUNNEL')
  })

  it('still serves HTTP/1.1 on the same port, with bodies', async () => {
    const res = await request(`${tunnel.publicUrl}echo/h1`, { method: 'POST', body: 'hello' })
    assert.equal(res.statusCode, 200)
    const echo = (await res.body.json()) as { length: number; url: string }
    assert.equal(echo.url, '/echo/h1')
    assert.equal(echo.length, 5)
  })

  it('without --h2c the same preface is not HTTP/2', async () => {
    const plain = await startServer({ host: '127.0.0.1', port: 0 })
    const client = http2Connect(plain.url)
    try {
      const outcome = await new Promise<string>((resolve) => {
        client.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
        const stream = client.request({ ':path': '/healthz' })
        stream.on('response', () => resolve('response'))
        stream.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
      })
      assert.notEqual(outcome, 'response')
    } finally {
      client.destroy()
      await plain.close()
    }
  })
})
