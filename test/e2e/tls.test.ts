/**
 * `adit server --tls-cert/--tls-key` (issue 14): the server terminates TLS
 * itself, on its own host. Real server, agent, `adit tcp` and `adit connect`
 * processes on loopback, with a throwaway self-signed certificate for
 * localhost/127.0.0.1 that the agents trust through NODE_EXTRA_CA_CERTS and
 * the clients through `ca`. Over one TLS port: agents on wss://, HTTP/1.1
 * public requests, the API and the dashboard, public WebSockets and TCP
 * visitors, HTTP/2 by ALPN (trailers, RST_STREAM reaching the service),
 * @grpc/grpc-js with TLS credentials; a certificate renewal on SIGHUP; and
 * the wrong uses of the two flags.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { connect as tlsConnect } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { Agent, request } from 'undici'
import WebSocket, { WebSocketServer } from 'ws'
import { cleanupList } from '../harness/cleanup.js'
import { clientFor, startEchoService, unary, type Echo } from '../harness/grpc-js-echo.js'
import { eventually, grpcCall, h2Session, startGrpcService, type GrpcService } from '../harness/grpc-wire.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { spawnAdit, startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startConnect, startTcpAgent, startTcpService, tcpClient, type TcpAgentProcess } from '../harness/tcp.js'
import { tempDir } from '../harness/temp.js'
import { makeTestCert, opensslMissing, type TestCert } from '../harness/tls-cert.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const TOKEN = 'tls-test-admin-token-0123456789'

/** The certificate a fresh TLS connection to 127.0.0.1:port is shown, trusting `ca`. */
function peerFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['http/1.1'] }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? ''
      socket.end()
      resolve(fingerprint)
    })
    socket.once('error', reject)
  })
}

// Bounded: a hang fails the suite instead of holding the run.
describe(
  'adit server --tls-cert/--tls-key: one TLS port for agents, HTTP/1.1, HTTP/2 and gRPC',
  { timeout: 120_000, skip: opensslMissing('the TLS server tests') },
  () => {
    const cleanup = cleanupList()
    const dir = tempDir()
    let cert: TestCert
    let caEnv: NodeJS.ProcessEnv
    let dispatcher: Agent
    let service: LocalService
    let wire: GrpcService
    let server: ServerProcess
    let agent: AgentProcess
    let wireAgent: AgentProcess
    let jsAgent: AgentProcess
    let tcpAgent: TcpAgentProcess

    before(async () => {
      cleanup.add(dir)
      cert = makeTestCert(dir.path)
      caEnv = { NODE_EXTRA_CA_CERTS: cert.certFile }
      dispatcher = cleanup.add(new Agent({ connect: { ca: cert.cert } }))
      service = cleanup.add(await startLocalService())
      // Public WebSockets: the service echoes every message.
      const wss = new WebSocketServer({ server: service.server })
      wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
      cleanup.add({ close: () => new Promise<void>((resolve) => wss.close(() => resolve())) })
      wire = cleanup.add(await startGrpcService())
      const grpcJs = await startEchoService()
      cleanup.add({ close: () => new Promise<void>((resolve) => grpcJs.server.tryShutdown(() => resolve())) })
      const tcpService = cleanup.add(
        await startTcpService((socket) => {
          socket.on('data', (c: Buffer) => socket.write(c))
          socket.on('end', () => socket.end())
        }),
      )
      server = cleanup.add(
        await startServerProcess({
          args: ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--public-host-suffix', 'grpc.test', '--admin-token', TOKEN],
        }),
      )
      const state = (name: string) => ({ stateFile: dir.file(`${name}.json`), env: caEnv })
      agent = cleanup.add(await startAgentProcess(server.url, service.url, state('http')))
      wireAgent = cleanup.add(await startAgentProcess(server.url, wire.url, state('wire')))
      jsAgent = cleanup.add(await startAgentProcess(server.url, `h2c://127.0.0.1:${grpcJs.port}`, state('grpc-js')))
      tcpAgent = cleanup.add(await startTcpAgent(server.url, String(tcpService.port), dir.file('tcp.json'), [], caEnv))
    })
    after(() => cleanup.run())

    it('listens on https:// and the agents registered and connected over wss://, trusting the CA from NODE_EXTRA_CA_CERTS', () => {
      assert.equal(server.url, `https://127.0.0.1:${server.port}`)
      assert.equal(agent.publicUrl, `https://${agent.id}.grpc.test:${server.port}/`, 'public URLs carry the scheme the server is reached on')
      assert.ok(server.lines.some((l) => l.includes('"message":"agent connected"') && l.includes(agent.id)))
    })

    it('an agent that does not trust the certificate is refused, saying why', async () => {
      const untrusting = cleanup.add(
        spawnAdit(['agent', '--server', server.url, '--local', service.url, '--json', '--state-file', dir.file('untrusting.json'), '--no-inspect']),
      )
      const line = await untrusting.waitForLine((l) => /self[- ]signed|certificate/i.test(l), 20_000)
      assert.match(line, /self[- ]signed certificate|DEPTH_ZERO_SELF_SIGNED_CERT/i)
      await untrusting.stop('SIGKILL')
    })

    it('HTTP/1.1 over TLS: /healthz, the dashboard API, and public GET and POST (1 MiB, hash intact) with X-Forwarded-Proto https', async () => {
      const health = await request(`${server.url}/healthz`, { dispatcher })
      assert.equal(health.statusCode, 200)
      assert.equal(await health.body.text(), 'ok\n')
      const dashboard = await request(`${server.url}/dashboard/api`, { dispatcher, headers: { authorization: `Bearer ${TOKEN}` } })
      assert.equal(dashboard.statusCode, 200)
      const tunnels = JSON.stringify(await dashboard.body.json())
      assert.ok(tunnels.includes(agent.id), 'the dashboard lists the tunnel')

      const get = await request(`${server.url}/pub/${agent.id}/echo/get?x=1`, { dispatcher })
      assert.equal(get.statusCode, 200)
      const seen = (await get.body.json()) as { url: string; headers: Record<string, string> }
      assert.equal(seen.url, '/echo/get?x=1')
      assert.equal(seen.headers['x-forwarded-proto'], 'https')

      const body = randomBytes(1024 * 1024)
      const post = await request(`${server.url}/pub/${agent.id}/echo/upload`, { dispatcher, method: 'POST', body })
      assert.equal(post.statusCode, 200)
      const echoed = (await post.body.json()) as { sha256: string; length: number; method: string }
      assert.equal(echoed.method, 'POST')
      assert.equal(echoed.length, body.length)
      assert.equal(echoed.sha256, sha(body))
    })

    it('a public WebSocket over wss:// through the tunnel', async () => {
      const ws = new WebSocket(`wss://127.0.0.1:${server.port}/pub/${agent.id}/ws`, { ca: cert.cert })
      try {
        await once(ws, 'open')
        const payload = randomBytes(100_000)
        ws.send(payload)
        const [data] = (await once(ws, 'message')) as [Buffer]
        assert.equal(sha(data), sha(payload))
      } finally {
        ws.terminate()
      }
    })

    it('adit connect: a TCP visitor over wss:// (NODE_EXTRA_CA_CERTS), bytes both ways and the FIN', async () => {
      const visitor = cleanup.add(await startConnect(`${server.url}/pub/${tcpAgent.id}/`, ['--token', tcpAgent.token], caEnv))
      const { socket, received } = await tcpClient(visitor.port)
      const sent = randomBytes(256 * 1024)
      socket.end(sent)
      const result = await received
      assert.equal(result.error, undefined)
      assert.equal(result.ended, true)
      assert.equal(sha(result.data), sha(sent))
    })

    it('HTTP/2 over TLS (ALPN h2): /healthz, and an h2c service through the same path as h2c, trailers intact both ways', async () => {
      const session = h2Session(server.url, cert.cert)
      try {
        await once(session, 'connect')
        assert.equal(session.alpnProtocol, 'h2')
        const health = await new Promise<{ status: unknown; body: string }>((resolve, reject) => {
          const stream = session.request({ ':path': '/healthz' })
          let status: unknown
          let body = ''
          stream.on('response', (h) => (status = h[':status']))
          stream.on('data', (c: Buffer) => (body += c.toString()))
          stream.on('end', () => resolve({ status, body }))
          stream.on('error', reject)
        })
        assert.deepEqual(health, { status: 200, body: 'ok\n' })

        const reply = await grpcCall(session, `/pub/${wireAgent.id}/test.Echo/Unary`, {
          messages: [Buffer.from('over tls')],
          requestTrailers: { 'x-req-sum': '7' },
          metadata: { 'x-echo-trailers': '1' },
        })
        assert.deepEqual(
          reply.messages.map((m) => m.toString()),
          ['OVER TLS'],
        )
        assert.equal(reply.status, 0)
        assert.equal(reply.trailers['x-trailer-meta'], 'kept', 'response trailers came through')
        assert.equal(reply.trailers['echo-x-req-sum'], '7', 'request trailers reached the service')
        assert.equal(wire.events.requests.at(-1)?.['x-forwarded-proto'], 'https')
      } finally {
        session.close()
      }
    })

    it('HTTP/2 over TLS: a RST_STREAM from the public client cancels the request at the service', async () => {
      const session = h2Session(server.url, cert.cert)
      try {
        const reply = await grpcCall(session, `/pub/${wireAgent.id}/test.Echo/Forever`, { messages: [Buffer.from('go')], cancelAfter: 3 })
        assert.ok(reply.messages.length >= 3)
        await eventually(() => wire.events.cancelled.includes('/test.Echo/Forever'), 'the service to see the cancel')
      } finally {
        session.close()
      }
    })

    it('@grpc/grpc-js with TLS credentials (createSsl): unary with metadata and trailers, and server streaming', async () => {
      const client: Echo = clientFor(server.port, `${jsAgent.id}.grpc.test`, grpc.credentials.createSsl(cert.cert), {
        'grpc.ssl_target_name_override': 'localhost',
      })
      try {
        const { error, reply, trailer } = await unary(client, 'unary', Buffer.from('hello tls'))
        assert.equal(error, null)
        assert.equal(reply?.toString(), 'HELLO TLS')
        assert.equal(trailer?.get('x-trailer-meta')[0], 'kept')
        assert.deepEqual(trailer?.get('x-bin-bin')[0], Buffer.from([0, 1, 2, 255]))

        const call = (client.serverStream as Function).call(client, Buffer.from('100:16384')) as grpc.ClientReadableStream<Buffer>
        let count = 0
        let bytesIn = 0
        await new Promise<void>((resolve, reject) => {
          call.on('data', (m: Buffer) => {
            assert.equal(m[0], count % 251, 'in order')
            count++
            bytesIn += m.length
          })
          call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))))
          call.on('error', reject)
        })
        assert.equal(count, 100)
        assert.equal(bytesIn, 100 * 16384)
      } finally {
        client.close()
      }
    })

    // Last: it changes the certificate the server shows.
    it('SIGHUP reads the certificate and key again; a bad file then keeps the one in use', async () => {
      const renewed = makeTestCert(dir.path, 'renewed', { cn: 'renewed' })
      const fingerprint = new X509Certificate(renewed.cert).fingerprint256
      assert.notEqual(await peerFingerprint(server.port, cert.cert), fingerprint)
      writeFileSync(cert.certFile, renewed.cert)
      writeFileSync(cert.keyFile, renewed.key)
      server.proc.kill('SIGHUP')
      await server.waitForLine((l) => l.includes('TLS certificate reloaded'))
      assert.equal(await peerFingerprint(server.port, renewed.cert), fingerprint, 'new connections get the renewed certificate')

      writeFileSync(cert.certFile, 'not a certificate\n')
      const before = server.lines.length
      server.proc.kill('SIGHUP')
      const refused = await server.waitForLine((l) => server.lines.indexOf(l) >= before && l.includes('TLS certificate not reloaded'))
      assert.match(refused, /not a PEM certificate/)
      assert.equal(await peerFingerprint(server.port, renewed.cert), fingerprint, 'still the renewed one')
      // The agents' connections, opened before, still carry requests.
      const renewedDispatcher = cleanup.add(new Agent({ connect: { ca: renewed.cert } }))
      const res = await request(`${server.url}/pub/${agent.id}/echo/after`, { dispatcher: renewedDispatcher })
      assert.equal(res.statusCode, 200)
      await res.body.dump()
    })
  },
)

describe('adit server --tls-cert/--tls-key: wrong uses are refused at start, naming the flag and the file', { timeout: 60_000 }, () => {
  const dir = tempDir()
  after(() => dir.remove())

  /** Runs `adit server` with these flags; it must exit at once. */
  async function refused(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; text: string }> {
    const spawned = spawnAdit(['server', '--host', '127.0.0.1', '--port', '0', ...args], env)
    const timer = setTimeout(() => spawned.proc.kill('SIGKILL'), 20_000)
    const code = await spawned.exited
    clearTimeout(timer)
    return { code, text: spawned.lines.join('\n') }
  }

  it('one without the other', async () => {
    const certOnly = await refused(['--tls-cert', dir.file('cert.pem')])
    assert.equal(certOnly.code, 2)
    assert.match(certOnly.text, /--tls-cert and --tls-key go together: --tls-cert was given without --tls-key \(ADIT_TLS_KEY\) \[ADIT_ERR_CONFIG\]/)
    const keyOnly = await refused([], { ADIT_TLS_KEY: dir.file('key.pem') })
    assert.equal(keyOnly.code, 2)
    assert.match(keyOnly.text, /--tls-key was given without --tls-cert \(ADIT_TLS_CERT\)/)
  })

  it('a file that cannot be read', async () => {
    const missing = dir.file('missing.pem')
    writeFileSync(dir.file('key.pem'), 'x')
    const result = await refused(['--tls-cert', missing, '--tls-key', dir.file('key.pem')])
    assert.equal(result.code, 2)
    assert.ok(result.text.includes(`--tls-cert ${missing}: cannot read the file (ENOENT`), result.text)
  })

  it('a file that is not PEM, and a key that belongs to another certificate', { skip: opensslMissing('the certificate checks') }, async () => {
    const good = makeTestCert(dir.path, 'good')
    const other = makeTestCert(dir.path, 'other')
    const garbage = dir.file('garbage.pem')
    writeFileSync(garbage, 'hello\n')
    const badCert = await refused(['--tls-cert', garbage, '--tls-key', good.keyFile])
    assert.equal(badCert.code, 2)
    assert.ok(badCert.text.includes(`--tls-cert ${garbage}: not a PEM certificate`), badCert.text)
    const badKey = await refused(['--tls-cert', good.certFile, '--tls-key', garbage])
    assert.equal(badKey.code, 2)
    assert.ok(badKey.text.includes(`--tls-key ${garbage}: not a PEM private key`), badKey.text)
    const mismatch = await refused(['--tls-cert', good.certFile, '--tls-key', other.keyFile])
    assert.equal(mismatch.code, 2)
    assert.ok(mismatch.text.includes(`--tls-key ${other.keyFile} is not the key of the certificate in --tls-cert ${good.certFile}`), mismatch.text)
  })
})
