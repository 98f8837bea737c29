import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Readable } from 'node:stream'
import { request } from 'undici'
import type { AgentProcess, ServerProcess } from '../harness/processes.js'
import type { LocalService } from '../harness/local-service.js'
import { startTunnel, type TunnelFixture } from '../harness/tunnel.js'
import { httpGet } from '../harness/http-client.js'

describe('the tunnel, end to end (real server and agent processes)', () => {
  let fixture: TunnelFixture
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess

  before(async () => {
    fixture = await startTunnel()
    ;({ service, server, agent } = fixture)
  })
  after(() => fixture?.stop())

  it('prints a public URL under the server', () => {
    assert.match(agent.publicUrl, new RegExp(`^${server.url}/pub/[a-z2-7]{16}/$`))
  })

  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    it(`forwards ${method} with path, query and body`, async () => {
      const body = method === 'GET' || method === 'OPTIONS' ? undefined : `payload for ${method}`
      const res = await request(`${agent.publicUrl}echo/some/path?x=1&y=%20z`, { method, ...(body ? { body } : {}) })
      assert.equal(res.statusCode, 200)
      const echo = (await res.body.json()) as { method: string; url: string; length: number }
      assert.equal(echo.method, method)
      assert.equal(echo.url, '/echo/some/path?x=1&y=%20z')
      assert.equal(echo.length, body ? Buffer.byteLength(body) : 0)
      assert.ok(res.headers['x-adit-request-id'], 'every proxied response carries a request id')
    })
  }

  it('answers HEAD without a body but with the length the service set', async () => {
    const res = await request(`${agent.publicUrl}echo`, { method: 'HEAD' })
    assert.equal(res.statusCode, 200)
    assert.ok(Number(res.headers['content-length']) > 0)
    assert.equal((await res.body.arrayBuffer()).byteLength, 0)
  })

  for (const status of [204, 304]) {
    it(`passes ${status} without a body`, async () => {
      const res = await request(`${agent.publicUrl}status/${status}`)
      assert.equal(res.statusCode, status)
      assert.equal((await res.body.arrayBuffer()).byteLength, 0)
    })
  }

  it('sets X-Forwarded-* and Forwarded, strips the prefix and hop-by-hop headers, rewrites Host to the target', async () => {
    // node:http, because undici will not send a Connection header naming others.
    const res = await httpGet(`${agent.publicUrl}echo`, {
      'x-custom': 'kept',
      'x-forwarded-for': '6.6.6.6',
      te: 'trailers',
      'x-remove-me': 'gone',
      connection: 'keep-alive, x-remove-me',
    })
    const echo = JSON.parse(res.body) as { headers: Record<string, string> }
    const host = new URL(server.url).host
    assert.equal(echo.headers['x-custom'], 'kept')
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot forge X-Forwarded-For')
    assert.equal(echo.headers['x-forwarded-proto'], 'http')
    assert.equal(echo.headers['x-forwarded-host'], host)
    assert.equal(echo.headers['x-forwarded-prefix'], `/pub/${agent.id}`)
    assert.equal(echo.headers.forwarded, `for=127.0.0.1;host="${host}";proto=http`)
    assert.equal(echo.headers['x-remove-me'], undefined)
    assert.equal(echo.headers.te, undefined)
    assert.equal(echo.headers.host, new URL(service.url).host)
    assert.equal(echo.headers['x-adit-request-id'], res.headers['x-adit-request-id'])
  })

  it('keeps repeated headers and every Set-Cookie apart, rewrites Location and cookie Path under the prefix', async () => {
    const res = await request(`${agent.publicUrl}headers`)
    assert.equal(res.statusCode, 200)
    const prefix = `/pub/${agent.id}`
    assert.deepEqual(res.headers['set-cookie'], [`a=1; Path=${prefix}/`, `b=2; Path=${prefix}/app; HttpOnly`, 'c=3'])
    assert.deepEqual(res.headers['x-multi'], ['one', 'two'])
    assert.equal(res.headers.location, `${prefix}/somewhere?x=1`)
    assert.equal(res.headers['x-hop'], undefined, 'a header named by Connection is hop-by-hop')
    await res.body.text()
  })

  it('redirects /pub/{id} to /pub/{id}/ keeping the query', async () => {
    const res = await request(`${server.url}/pub/${agent.id}?a=b`)
    assert.equal(res.statusCode, 308)
    assert.equal(res.headers.location, `/pub/${agent.id}/?a=b`)
    await res.body.text()
  })

  it('streams a chunked request body and a chunked response', async () => {
    async function* parts() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(1000, i)
    }
    const res = await request(`${agent.publicUrl}echo`, { method: 'POST', body: Readable.from(parts()) })
    const echo = (await res.body.json()) as { length: number; headers: Record<string, string> }
    assert.equal(echo.length, 10_000)
    const chunked = await request(`${agent.publicUrl}bytes/100000?chunked`)
    assert.equal(chunked.headers['transfer-encoding'], 'chunked')
    assert.equal((await chunked.body.arrayBuffer()).byteLength, 100_000)
  })

  it('404 for an unknown tunnel, with a one-line body naming the request id', async () => {
    const res = await request(`${server.url}/pub/aaaaaaaaaaaaaaaa/x`)
    assert.equal(res.statusCode, 404)
    assert.equal(res.headers['x-adit-error'], 'ADIT_ERR_UNKNOWN_TUNNEL')
    const text = await res.body.text()
    assert.match(text, /^404 unknown tunnel.*\[request id [\w-]+\]\n$/)
  })

  it('502 agent not connected for a registered tunnel without an agent', async () => {
    const reg = await request(`${server.url}/register`, { method: 'POST' })
    assert.equal(reg.statusCode, 201)
    const { id, public_url } = (await reg.body.json()) as { id: string; public_url: string }
    assert.equal(public_url, `${server.url}/pub/${id}/`)
    const res = await request(`${public_url}x`)
    assert.equal(res.statusCode, 502)
    assert.equal(res.headers['x-adit-error'], 'ADIT_ERR_AGENT_NOT_CONNECTED')
    assert.match(await res.body.text(), /agent not connected/)
  })

  it('public_url follows Host and X-Forwarded-Proto when no PUBLIC_BASE_URL is set', async () => {
    const reg = await request(`${server.url}/register`, { method: 'POST', headers: { host: 'tunnel.example.test', 'x-forwarded-proto': 'https' } })
    const { id, public_url } = (await reg.body.json()) as { id: string; public_url: string }
    assert.equal(public_url, `https://tunnel.example.test/pub/${id}/`)
  })

  it('/healthz and /readyz answer 200', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await request(`${server.url}${path}`)
      assert.equal(res.statusCode, 200)
      await res.body.text()
    }
  })

  it('writes one access-log line per proxied request with its request id', async () => {
    const res = await request(`${agent.publicUrl}echo/logged`)
    await res.body.text()
    const id = res.headers['x-adit-request-id'] as string
    const line = await server.waitForLine((l) => l.includes(`"requestId":"${id}"`))
    const entry = JSON.parse(line) as Record<string, unknown>
    assert.equal(entry.message, 'proxied')
    assert.equal(entry.tunnel, agent.id)
    assert.equal(entry.status, 200)
  })
})
