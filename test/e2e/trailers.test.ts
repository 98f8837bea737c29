/**
 * Trailers through the tunnel (issue 14): a local service's response
 * trailers reach the public client over HTTP/1.1 chunked and over HTTP/2
 * (h2c), with a real `adit server` and `adit agent`; fields that must not
 * be trailers (RFC 9110 §6.5.1) never pass.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createServer, type Server } from 'node:http'
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'
import { request } from 'undici'
import { decodeFrame, encodeData, encodeEnd, encodeHead, FrameType } from '../../src/protocol/index.js'
import { connectRawAgent, type RawAgent } from '../harness/raw-agent.js'
import { rawExchange } from '../harness/security-helpers.js'

/** A service that answers `/trailers` with a chunked body and trailers (one that must not be a trailer among them). */
function trailerService(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.url === '/echo-trailers') return void res.end(JSON.stringify(req.trailers))
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, grpc-status' })
      res.write('hello ')
      res.write('world')
      res.addTrailers([
        ['x-checksum', 'abc123'],
        ['grpc-status', '0'],
        ['grpc-message', 'all%20good'],
        ['x-multi', 'one'],
        ['x-multi', 'two'],
        ['set-cookie', 'late=1'],
      ])
      res.end()
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

/** The raw HTTP/1.1 answer to one request (Connection: close), so the trailer section can be read as sent. */
async function rawHttp1(port: number, path: string): Promise<string> {
  const { text } = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTE: trailers\r\nConnection: close, TE\r\n\r\n`, 10_000)
  return text
}

function h2Get(session: ClientHttp2Session, path: string): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': path, te: 'trailers' })
    let headers: IncomingHttpHeaders = {}
    let trailers: IncomingHttpHeaders = {}
    let body = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => (headers = h))
    stream.on('trailers', (t) => (trailers = t))
    stream.on('data', (c: string) => (body += c))
    stream.on('end', () => resolve({ headers, trailers, body }))
    stream.on('error', reject)
  })
}

describe('trailers through the tunnel', () => {
  const dir = tempDir()
  let service: Server
  let server: ServerProcess
  let agent: AgentProcess
  let session: ClientHttp2Session

  before(async () => {
    service = await trailerService()
    server = await startServerProcess({ args: ['--h2c'] })
    agent = await startAgentProcess(server.url, `http://127.0.0.1:${(service.address() as AddressInfo).port}`, { stateFile: dir.file('state.json') })
    session = http2Connect(server.url)
    session.on('error', () => {})
  })
  after(async () => {
    session?.close()
    await agent?.stop()
    await server?.stop()
    await new Promise((resolve) => service?.close(resolve))
    dir.remove()
  })

  it('HTTP/1.1 chunked: the response trailers reach the public client after the last chunk', async () => {
    const text = await rawHttp1(server.port, `${new URL(agent.publicUrl).pathname}trailers`)
    const [head, rest] = text.split('\r\n\r\n', 2) as [string, string]
    assert.match(head, /^HTTP\/1\.1 200/)
    assert.match(head, /transfer-encoding: chunked/i)
    const body = text.slice(head.length + 4)
    const end = body.indexOf('\r\n0\r\n')
    assert.ok(end >= 0, `no last chunk in ${JSON.stringify(rest)}`)
    const trailerSection = body.slice(end + 5)
    assert.match(trailerSection, /^x-checksum: abc123\r\n/im)
    assert.match(trailerSection, /^grpc-status: 0\r\n/im)
    assert.match(trailerSection, /^grpc-message: all%20good\r\n/im)
    assert.match(trailerSection, /^x-multi: one\r\nx-multi: two\r\n/im)
    assert.doesNotMatch(trailerSection, /set-cookie/i, 'a field that must not be a trailer never passes as one')
    assert.ok(trailerSection.endsWith('\r\n\r\n'))
  })

  it('HTTP/2 (h2c): the response trailers arrive as a trailing HEADERS frame', async () => {
    const res = await h2Get(session, `${new URL(agent.publicUrl).pathname}trailers`)
    assert.equal(res.headers[':status'], 200)
    assert.equal(res.body, 'hello world')
    assert.equal(res.trailers['x-checksum'], 'abc123')
    assert.equal(res.trailers['grpc-status'], '0')
    assert.equal(res.trailers['grpc-message'], 'all%20good')
    assert.equal(res.trailers['x-multi'], 'one, two')
    assert.equal(res.trailers['set-cookie'], undefined)
  })

  it('an older agent (its upgrade names no `trailers`) never gets a TRAILERS frame: the request trailers are dropped, the body ends with END', async (t) => {
    const res = await request(`${server.url}/register`, { method: 'POST' })
    const tunnel = (await res.body.json()) as { id: string; secret: string }
    const frames: number[] = []
    let raw: RawAgent | undefined
    t.after(() => raw?.close())
    raw = await connectRawAgent(server.url, tunnel.id, tunnel.secret, () => {})
    raw.ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data)
      frames.push(frame.type)
      if (frame.type === FrameType.END) {
        raw!.ws.send(encodeHead(frame.streamId, { status: 200, headers: [] }))
        raw!.ws.send(encodeData(frame.streamId, Buffer.from('old')))
        raw!.ws.send(encodeEnd(frame.streamId))
      }
    })
    const { text } = await rawExchange(
      server.port,
      `POST /pub/${tunnel.id}/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n`,
      10_000,
    )
    assert.match(text, /^HTTP\/1\.1 200/)
    assert.ok(text.includes('old'))
    assert.deepEqual(frames, [FrameType.OPEN, FrameType.DATA, FrameType.END])
  })

  it('HTTP/1.1 chunked request trailers (announced by Trailer) reach an http:// service in its last chunk', async () => {
    const { text } = await rawExchange(
      server.port,
      `POST ${new URL(agent.publicUrl).pathname}echo-trailers HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\nConnection: close\r\n\r\n` +
        '3\r\nabc\r\n0\r\nx-sum: 42\r\nhost: evil\r\n\r\n',
      10_000,
    )
    assert.match(text, /^HTTP\/1\.1 200/)
    const body = text.slice(text.indexOf('\r\n\r\n') + 4)
    assert.match(body, /\{"x-sum":"42"\}/, `the service got no trailers: ${body}`)
  })
})
