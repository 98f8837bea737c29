import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { startAgentProcess, startServerProcess, type ServerProcess, type Spawned } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'

describe('agent options: Host header, https targets, client aborts, state file', () => {
  let service: LocalService
  let server: ServerProcess
  const dir = tempDir()
  const agents: Spawned[] = []
  let closedEarly: Promise<void>
  let markClosed: () => void

  before(async () => {
    closedEarly = new Promise((resolve) => (markClosed = resolve))
    service = await startLocalService((req, res) => {
      if (req.url === '/delay') {
        setTimeout(() => res.end('late but whole'), 600)
        return true
      }
      if (req.url === '/hang') {
        req.socket.once('close', () => markClosed())
        return true
      }
      return false
    })
    server = await startServerProcess()
  })
  after(async () => {
    for (const a of agents) await a.stop()
    await server?.stop()
    await service?.close()
    dir.remove()
  })

  for (const [mode, expected] of [
    ['rewrite', () => new URL(service.url).host],
    ['preserve', () => new URL(server.url).host],
    ['app.internal', () => 'app.internal'],
  ] as const) {
    it(`--host-header ${mode}`, async () => {
      const agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file(`host-${mode}.json`), args: ['--host-header', mode] })
      agents.push(agent)
      const res = await request(`${agent.publicUrl}echo`)
      const echo = (await res.body.json()) as { headers: Record<string, string> }
      assert.equal(echo.headers.host, expected())
    })
  }

  it('writes the state file with mode 0600', () => {
    const file = dir.file('host-rewrite.json')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
    assert.deepEqual(Object.keys(state).sort(), ['id', 'public_url', 'secret', 'server'])
  })

  it('aborts the local request when the public client goes away', async () => {
    const agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file('abort.json') })
    agents.push(agent)
    const req = httpRequest(`${agent.publicUrl}hang`, { agent: false })
    req.on('error', () => undefined)
    req.end()
    // Wait until the service holds the request, then hang up.
    await (async () => {
      for (let i = 0; i < 200 && !service.requests.some((r) => r.url === '/hang'); i++) await new Promise((r) => setTimeout(r, 10))
    })()
    req.destroy()
    await closedEarly
  })

  const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p))
  it(
    'reaches an https:// service with a self-signed certificate only with --local-insecure',
    { skip: openssl ? false : 'openssl not installed: cannot make a test certificate' },
    async () => {
      execFileSync(
        openssl!,
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', dir.file('key.pem'), '-out', dir.file('cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'],
        { stdio: 'ignore' },
      )
      const tls = createHttpsServer({ key: readFileSync(dir.file('key.pem')), cert: readFileSync(dir.file('cert.pem')) }, (_req, res) =>
        res.end('secure hello'),
      )
      await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve))
      try {
        const local = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`
        const strict = await startAgentProcess(server.url, local, { stateFile: dir.file('tls-strict.json') })
        agents.push(strict)
        const refused = await request(`${strict.publicUrl}x`)
        assert.equal(refused.statusCode, 502)
        assert.match(await refused.body.text(), /local service unreachable.*--local-insecure/)
        const insecure = await startAgentProcess(server.url, local, { stateFile: dir.file('tls-insecure.json'), args: ['--local-insecure'] })
        agents.push(insecure)
        const ok = await request(`${insecure.publicUrl}x`)
        assert.equal(ok.statusCode, 200)
        assert.equal(await ok.body.text(), 'secure hello')
      } finally {
        tls.closeAllConnections()
        tls.close()
      }
    },
  )

  it('SIGTERM lets a request in flight finish, then the agent exits 0', async () => {
    const agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file('term.json') })
    agents.push(agent)
    const pending = request(`${agent.publicUrl}delay`)
    for (let i = 0; i < 200 && !service.requests.some((r) => r.url === '/delay'); i++) await new Promise((r) => setTimeout(r, 10))
    const exited = agent.stop('SIGTERM', 10_000)
    const res = await pending
    assert.equal(res.statusCode, 200)
    assert.equal(await res.body.text(), 'late but whole')
    assert.equal(await exited, 0)
  })

  it('prints one JSON line per finished request with --json', async () => {
    const agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file('json.json') })
    agents.push(agent)
    const res = await request(`${agent.publicUrl}bytes/1234`)
    await res.body.arrayBuffer()
    const line = await agent.waitForLine((l) => l.startsWith('{"event":"request"'))
    const event = JSON.parse(line) as Record<string, unknown>
    assert.equal(event.method, 'GET')
    assert.equal(event.path, '/bytes/1234')
    assert.equal(event.status, 200)
    assert.equal(event.bytes, 1234)
    assert.equal(typeof event.ms, 'number')
  })
})
