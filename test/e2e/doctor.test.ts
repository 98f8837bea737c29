import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { spawnAdit, startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'

async function doctor(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const run = spawnAdit(['doctor', ...args, '--timeout', '3s'])
  const code = await run.exited
  return { code, lines: run.lines }
}

const step = (lines: string[], mark: string, name: string): string | undefined => lines.find((l) => l.startsWith(`[${mark}`) && l.slice(7).startsWith(name))

/** A proxy that forwards plain requests but drops Upgrade (what breaks WebSockets in the wild). */
async function upgradeStrippingProxy(target: string): Promise<{ url: string; server: Server }> {
  const forward = (req: import('node:http').IncomingMessage, write: (status: number, headers: Record<string, unknown>, body: Buffer) => void): void => {
    const headers = { ...req.headers }
    delete headers.upgrade
    delete headers.connection
    const out = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => write(res.statusCode ?? 502, res.headers, Buffer.concat(chunks)))
    })
    out.on('error', () => write(502, {}, Buffer.from('bad gateway')))
    req.pipe(out)
  }
  const server = createServer((req, res) =>
    forward(req, (status, headers, body) => {
      res.writeHead(status, { 'content-type': String(headers['content-type'] ?? 'text/plain'), 'content-length': body.length, via: '1.1 stripping-proxy' })
      res.end(body)
    }),
  )
  server.on('upgrade', (req, socket) =>
    forward(req, (status, _headers, body) => {
      socket.end(`HTTP/1.1 ${status} X\r\nContent-Length: ${body.length}\r\nVia: 1.1 stripping-proxy\r\nConnection: close\r\n\r\n${body.toString()}`)
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

describe('adit doctor against real processes on loopback', () => {
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess
  let proxy: { url: string; server: Server }
  const dir = tempDir()

  before(async () => {
    service = await startLocalService()
    server = await startServerProcess()
    agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file('state.json') })
    proxy = await upgradeStrippingProxy(server.url)
  })
  after(async () => {
    await agent?.stop()
    await server?.stop()
    await service?.close()
    proxy?.server.closeAllConnections()
    await new Promise((r) => proxy?.server.close(r))
    dir.remove()
  })

  it('passes every check when all is well, credentials and round trip included', async () => {
    const { code, lines } = await doctor(['--server', server.url, '--local', service.url, '--state-file', dir.file('state.json')])
    assert.equal(code, 0, lines.join('\n'))
    for (const name of ['dns', 'healthz', 'clock', 'websocket', 'credentials', 'local', 'round trip'])
      assert.ok(step(lines, 'ok', name), `${name} passes:\n${lines.join('\n')}`)
    assert.ok(step(lines, 'skip', 'tls'))
    assert.match(step(lines, 'ok', 'round trip')!, /median of 3: [\d.]+ ms through the tunnel/)
    assert.ok(lines.includes('all checks passed'))
  })

  it('names a proxy that strips Upgrade as the cause', async () => {
    const { code, lines } = await doctor(['--server', proxy.url, '--state-file', 'none'])
    assert.equal(code, 2)
    const failed = step(lines, 'FAIL', 'websocket')
    assert.ok(failed, lines.join('\n'))
    assert.match(failed, /Upgrade/)
    assert.ok(lines.some((l) => l.includes('fix:') && l.includes('proxy_set_header Upgrade')))
    assert.ok(lines.some((l) => l.includes('ADIT_ERR_DOCTOR_FAILED')))
  })

  it('fails the local step, with its fix, when the service is down', async () => {
    const down = await startLocalService()
    const url = down.url
    await down.close()
    const { code, lines } = await doctor(['--server', server.url, '--local', url, '--state-file', dir.file('state.json')])
    assert.equal(code, 2)
    assert.ok(step(lines, 'ok', 'healthz'))
    assert.match(step(lines, 'FAIL', 'local') ?? '', /ECONNREFUSED/)
    assert.ok(lines.some((l) => l.includes('fix:') && l.includes('start your service')))
    assert.ok(step(lines, 'skip', 'round trip'))
  })

  it('checks an h2c:// service over HTTP/2 (undici cannot speak h2c)', async () => {
    const { startGrpcService } = await import('../harness/grpc-wire.js')
    const h2 = await startGrpcService()
    try {
      const { lines } = await doctor(['--server', server.url, '--local', h2.url, '--state-file', 'none'])
      assert.match(step(lines, 'ok', 'local') ?? '', /GET h2c:\/\/127\.0\.0\.1:\d+ → 200/, lines.join('\n'))
    } finally {
      await h2.close()
    }
  })

  it('fails at /healthz, with its fix, when the server is down', async () => {
    await agent.stop()
    await server.stop()
    const { code, lines } = await doctor(['--server', server.url, '--local', service.url])
    assert.equal(code, 2)
    assert.match(step(lines, 'FAIL', 'healthz') ?? '', /ECONNREFUSED/)
    assert.ok(lines.some((l) => l.includes('fix:') && l.includes('start the server')))
  })
})
