/**
 * Per-route options that change what happens on the wire, each on its own
 * route beside one without it: `responseTimeout` (a slow service answers
 * 504 on its route only) and `localInsecure` (a self-signed https origin is
 * trusted on its route only). One in-process agent (connect) with real
 * server and services on loopback.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createH2cServer, type Http2Server } from 'node:http2'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
import { startServerProcess, type ServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'

const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p))

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('per-route options: response_timeout and local_insecure hold on their own route only', () => {
  const dir = tempDir()
  let server: ServerProcess
  let slow: Server
  let tls: Server | undefined
  let h2c: Http2Server
  let tunnel: Tunnel

  before(async () => {
    // /slow never answers (until the test ends); everything else at once.
    slow = createServer((req, res) => {
      if (req.url?.includes('slow')) return
      res.end(`fast ${req.url}`)
    })
    const plain = `http://${await listen(slow)}`
    // The same over HTTP/2 with prior knowledge (h2c://): another transport, the same route option.
    h2c = createH2cServer()
    h2c.on('stream', (stream, headers) => {
      if (String(headers[':path']).includes('slow')) return
      stream.respond({ ':status': 200 })
      stream.end(`fast h2 ${headers[':path']}`)
    })
    await new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve))
    const h2 = `h2c://127.0.0.1:${(h2c.address() as AddressInfo).port}`
    const routes: Parameters<typeof connect>[0]['routes'] = [
      { path: '/timed', local: plain, responseTimeoutMs: 300 },
      { path: '/untimed', local: plain },
      { path: '/h2-timed', local: h2, responseTimeoutMs: 300 },
    ]
    if (openssl !== undefined) {
      execFileSync(
        openssl,
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', dir.file('key.pem'), '-out', dir.file('cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'],
        { stdio: 'ignore' },
      )
      tls = createHttpsServer({ key: readFileSync(dir.file('key.pem')), cert: readFileSync(dir.file('cert.pem')) }, (_req, res) => res.end('secure hello'))
      const secure = `https://${await listen(tls)}`
      routes.push({ path: '/trusting', local: secure, localInsecure: true }, { path: '/strict', local: secure })
    }
    routes.push({ path: '/', local: plain })
    server = await startServerProcess()
    tunnel = await connect({ server: server.url, stateFile: null, routes })
  })
  after(async () => {
    await tunnel?.close()
    await server?.stop()
    slow?.closeAllConnections()
    slow?.close()
    tls?.closeAllConnections()
    tls?.close()
    h2c?.close()
    dir.remove()
  })

  it('response_timeout: a service that sends no head in time is 504 on that route; the same service answers on the others', async () => {
    const base = `${server.url}/pub/${tunnel.id}`
    const started = Date.now()
    const timed = await request(`${base}/timed/slow`, { headersTimeout: 10_000 })
    const body = await timed.body.text()
    assert.equal(timed.statusCode, 504, body)
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms, not at the server's own deadline`)
    const fast = await request(`${base}/timed/quick`)
    assert.equal(await fast.body.text(), 'fast /timed/quick')
    // Without the option the route waits: still nothing after well over 300 ms.
    const waiting = request(`${base}/untimed/slow`, { headersTimeout: 1500 })
    await assert.rejects(waiting, (error: { code?: string }) => error.code === 'UND_ERR_HEADERS_TIMEOUT')
  })

  it('response_timeout on an h2c:// route: 504 in time as well; a quick answer on the same route passes', async () => {
    const base = `${server.url}/pub/${tunnel.id}`
    const started = Date.now()
    const timed = await request(`${base}/h2-timed/slow`, { headersTimeout: 10_000 })
    const body = await timed.body.text()
    assert.equal(timed.statusCode, 504, body)
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms, not at the server's own deadline`)
    const fast = await request(`${base}/h2-timed/quick`)
    assert.equal(await fast.body.text(), 'fast h2 /h2-timed/quick')
  })

  it(
    'local_insecure: the route that allows it reaches a self-signed https origin; the one that does not is 502',
    { skip: openssl ? false : 'openssl not installed: cannot make a test certificate' },
    async () => {
      const base = `${server.url}/pub/${tunnel.id}`
      const trusting = await request(`${base}/trusting/x`)
      assert.equal(trusting.statusCode, 200)
      assert.equal(await trusting.body.text(), 'secure hello')
      const strict = await request(`${base}/strict/x`)
      assert.equal(strict.statusCode, 502)
      assert.match(await strict.body.text(), /local service unreachable/)
    },
  )
})
