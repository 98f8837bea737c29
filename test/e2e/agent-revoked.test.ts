/**
 * A tunnel revoked while its agent runs (DELETE /tunnels/{id}): the server
 * sends GOAWAY REVOKED on each of the agent's connections (two by default)
 * and closes them. The library's Tunnel reports it once ('error'), and
 * `adit agent` says it once and exits 2 (an AditError, README troubleshooting).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { connect } from '../../src/agent/tunnel.js'
import { AditError, ErrorCode } from '../../src/errors.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startServerProcess, type ServerProcess } from '../harness/processes.js'
import { cleanup } from '../harness/security-helpers.js'
import { tempDir } from '../harness/temp.js'

const adminToken = `admin-${randomBytes(12).toString('hex')}`

async function revoke(server: ServerProcess, id: string): Promise<void> {
  const res = await request(`${server.url}/tunnels/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } })
  await res.body.text()
  assert.equal(res.statusCode, 204)
}

/** Resolves once the server logged `count` disconnections of tunnel `id` (each after the agent read everything sent on that connection). */
async function disconnected(server: ServerProcess, id: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000
  const seen = (): number => server.lines.filter((l) => l.includes('"message":"agent disconnected"') && l.includes(id)).length
  while (seen() < count) {
    if (Date.now() > deadline) throw new Error(`${seen()} of ${count} disconnections of ${id} logged within 10 s`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('a revoked tunnel is reported once', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  it("library: the Tunnel's 'error' listener fires once with ADIT_ERR_TUNNEL_REVOKED, though each of its two connections got GOAWAY REVOKED", async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_ADMIN_TOKEN: adminToken } }))
    const tunnel = await connect({ server: server.url, local: service.url, stateFile: null, connections: 2 })
    jobs.add({ close: () => tunnel.close() })
    const errors: unknown[] = []
    tunnel.on('error', (error) => errors.push(error))
    const connectedBoth = Date.now() + 10_000
    while (server.lines.filter((l) => l.includes('"message":"agent connected"') && l.includes(tunnel.id)).length < 2) {
      if (Date.now() > connectedBoth) throw new Error('the agent did not open its two connections within 10 s')
      await new Promise((r) => setTimeout(r, 25))
    }
    await revoke(server, tunnel.id)
    await disconnected(server, tunnel.id, 2)
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(errors.length, 1, `'error' fired ${errors.length} times: ${errors.map((e) => (e as Error).message).join(' | ')}`)
    assert.ok(errors[0] instanceof AditError)
    assert.equal(errors[0].code, ErrorCode.TUNNEL_REVOKED)
  })

  for (const json of [false, true]) {
    it(`adit agent${json ? ' --json' : ''}: says it once and exits 2`, async () => {
      const service = jobs.add(await startLocalService())
      const server = jobs.add(await startServerProcess({ env: { ADIT_ADMIN_TOKEN: adminToken } }))
      const dir = jobs.add(tempDir())
      const agent = jobs.add(
        spawnAdit(['agent', '--server', server.url, '--local', service.url, '--state-file', dir.file('s.json'), '--no-inspect', ...(json ? ['--json'] : [])], {
          LOG_LEVEL: 'info',
        }),
      )
      await agent.waitForLine((l) => l.includes('"message":"connected to server"') && l.includes('"connection":2'), 30_000)
      const line = await agent.waitForLine((l) => (json ? l.startsWith('{"event":"ready"') : l.startsWith('adit: forwarding')))
      const id = /\/pub\/([a-z0-9]+)\//.exec(line)![1]!
      await revoke(server, id)
      const code = await agent.exited
      assert.equal(code, 2, agent.lines.join('\n'))
      const said = agent.lines.filter((l) => l.startsWith('adit: tunnel') && l.includes('was revoked') && l.endsWith('[ADIT_ERR_TUNNEL_REVOKED]'))
      assert.equal(said.length, 1, agent.lines.join('\n'))
      const events = agent.lines.filter((l) => l.startsWith('{"event":"error"'))
      assert.equal(events.length, json ? 1 : 0, agent.lines.join('\n'))
      if (json) assert.equal((JSON.parse(events[0]!) as { code: string }).code, ErrorCode.TUNNEL_REVOKED)
    })
  }
})

describe('a request held for a reconnecting agent', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  it('is answered 410 as soon as the tunnel is revoked, not 503 at the end of the hold', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_ADMIN_TOKEN: adminToken, ADIT_HOLD_TIMEOUT: '8s' } }))
    const tunnel = await connect({ server: server.url, local: service.url, stateFile: null, connections: 1 })
    const id = tunnel.id
    const url = tunnel.publicUrl
    await tunnel.close()
    await disconnected(server, id, 1)
    const started = Date.now()
    // The agent left a moment ago: the server holds the request for its return.
    const held = request(new URL('held', url)).then(async (res) => ({ status: res.statusCode, body: await res.body.text() }))
    await new Promise((r) => setTimeout(r, 300))
    await revoke(server, id)
    const { status, body } = await held
    const waited = Date.now() - started
    assert.equal(status, 410, body)
    assert.match(body, /^410 this tunnel was revoked/)
    assert.ok(waited < 4000, `answered after ${waited} ms (the hold is 8 s)`)
    assert.equal((await request(`${server.url}/healthz`)).statusCode, 200, 'the server lives on')
  })
})
