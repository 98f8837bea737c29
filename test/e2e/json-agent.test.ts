import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { startServerProcess, type ServerProcess } from '../harness/processes.js'

interface JsonRequest {
  type: 'req'
  req_id: string
  method: string
  path: string
  query: string
  headers: Record<string, string[]>
  body: string
}

/**
 * An agent as the original design's users wrote them: no subprotocol, the
 * secret in the query string, JSON frames with base64 bodies.
 */
function startJsonAgent(server: string, id: string, secret: string, protocols: string[] = []): Promise<{ ws: WebSocket; seen: JsonRequest[] }> {
  const seen: JsonRequest[] = []
  const ws = new WebSocket(`${server.replace('http:', 'ws:')}/ws?id=${id}&secret=${encodeURIComponent(secret)}`, protocols)
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'JSON frames travel as text')
    const req = JSON.parse(data.toString()) as JsonRequest
    seen.push(req)
    const body = Buffer.from(`${req.method} ${req.path}?${req.query} got ${Buffer.from(req.body, 'base64').length} bytes`)
    ws.send(
      JSON.stringify({
        type: 'resp',
        req_id: req.req_id,
        status: 201,
        headers: { 'Content-Type': ['text/plain'], 'Set-Cookie': ['a=1; Path=/', 'b=2'] },
        body: body.toString('base64'),
      }),
    )
  })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, seen }))
    ws.once('error', reject)
  })
}

describe('adit.json.v1: agents written against the original design keep working', () => {
  let server: ServerProcess
  before(async () => {
    server = await startServerProcess()
  })
  after(async () => {
    await server?.stop()
  })

  for (const protocols of [[], ['adit.json.v1']]) {
    it(`serves a request through a JSON agent (subprotocols offered: ${JSON.stringify(protocols)})`, async () => {
      const reg = await request(`${server.url}/register`, { method: 'POST' })
      const { id, secret, public_url } = (await reg.body.json()) as { id: string; secret: string; public_url: string }
      const agent = await startJsonAgent(server.url, id, secret, protocols)
      try {
        assert.equal(agent.ws.protocol, protocols[0] ?? '')
        const res = await request(`${public_url}hello/world?x=1`, { method: 'POST', body: 'twelve bytes', headers: { 'x-test': 'yes' } })
        assert.equal(res.statusCode, 201)
        assert.equal(await res.body.text(), 'POST /hello/world?x=1 got 12 bytes')
        assert.deepEqual(res.headers['set-cookie'], [`a=1; Path=/pub/${id}/`, 'b=2'])
        const req = agent.seen[0]!
        assert.equal(req.type, 'req')
        assert.deepEqual(req.headers['X-Test'], ['yes'])
        assert.deepEqual(req.headers['X-Forwarded-Prefix'], [`/pub/${id}`])
      } finally {
        agent.ws.close()
      }
    })
  }

  it('a malformed JSON frame closes that agent only; the server keeps serving', async () => {
    const reg = await request(`${server.url}/register`, { method: 'POST' })
    const { id, secret } = (await reg.body.json()) as { id: string; secret: string }
    const agent = await startJsonAgent(server.url, id, secret)
    const closed = new Promise<number>((resolve) => agent.ws.once('close', (code) => resolve(code)))
    agent.ws.send('{not json')
    assert.equal(await closed, 1002)
    const health = await request(`${server.url}/healthz`)
    assert.equal(health.statusCode, 200)
    await health.body.text()
  })
})
