/**
 * Trust survives a restart (issue 11, finding 1): a real server process is
 * stopped and started again with the same ADIT_SIGNING_KEY, same port and
 * same data directory, without Redis. Access rules still hold, a deleted
 * tunnel stays dead, and a name stays its owner's.
 */
import assert from 'node:assert/strict'
import { copyFileSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { startAgentProcess, startServerProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(url, { headers })
  await res.body.text()
  return res.statusCode
}

function wsStatus(server: ServerProcess, id: string, secret: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.url.replace('http:', 'ws:')}/ws?id=${id}`, ['adit.v2'], { headers: { authorization: `Bearer ${secret}` } })
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode!)
      res.resume()
      ws.terminate()
    })
    ws.on('open', () => {
      resolve(101)
      ws.terminate()
    })
    ws.on('error', () => resolve(0))
  })
}

function stateOf(path: string): { id: string; secret: string; public_url: string } {
  return JSON.parse(readFileSync(path, 'utf8')) as { id: string; secret: string; public_url: string }
}

describe('durable state: a restart keeps rules, revocations and names', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  /** A server, and a function that restarts it on the same port, key and data directory. */
  async function restartable(): Promise<{ current(): ServerProcess; restart(): Promise<ServerProcess> }> {
    const data = jobs.add(tempDir('adit-data-'))
    const env = { ADIT_SIGNING_KEY: randomBytes(32).toString('base64'), ADIT_DATA_DIR: data.path, ADIT_HOLD_TIMEOUT: '1s' }
    let server = jobs.add(await startServerProcess({ env }))
    return {
      current: () => server,
      async restart() {
        await server.stop('SIGKILL')
        server = jobs.add(await startServerProcess({ env, port: server.port }))
        return server
      },
    }
  }

  it('--basic-auth and --allow-ip still answer 401 and 403 after a restart, once the agent is back', async () => {
    const service = jobs.add(await startLocalService())
    const servers = await restartable()
    const dir = jobs.add(tempDir())
    const first = servers.current()
    const basic = jobs.add(await startAgentProcess(first.url, service.url, { stateFile: dir.file('b.json'), args: ['--basic-auth', 'alice:wonderland-42'] }))
    const allow = jobs.add(await startAgentProcess(first.url, service.url, { stateFile: dir.file('a.json'), args: ['--allow-ip', '10.0.0.0/8'] }))
    assert.equal(await status(`${basic.publicUrl}echo`), 401)
    assert.equal(await status(`${allow.publicUrl}echo`), 403)

    const second = await servers.restart()
    await second.waitForLine((l) => l.includes('"message":"agent connected"') && l.includes(basic.id), 15_000)
    await second.waitForLine((l) => l.includes('"message":"agent connected"') && l.includes(allow.id), 15_000)
    assert.equal(await status(`${basic.publicUrl}echo`), 401, 'a bare request to the basic-auth tunnel after the restart')
    const auth = `Basic ${Buffer.from('alice:wonderland-42').toString('base64')}`
    assert.equal(await status(`${basic.publicUrl}echo`, { authorization: auth }), 200, 'the right password still gets in')
    assert.equal(await status(`${allow.publicUrl}echo`), 403, 'a request from outside the allow-list after the restart')
  })

  it('a DELETEd tunnel stays dead after a restart: its old secret is refused on /ws and its URL never serves', async () => {
    const service = jobs.add(await startLocalService())
    const servers = await restartable()
    const dir = jobs.add(tempDir())
    const first = servers.current()
    const agent = jobs.add(await startAgentProcess(first.url, service.url, { stateFile: dir.file('s.json') }))
    copyFileSync(dir.file('s.json'), dir.file('copy.json'))
    const { id, secret, public_url } = stateOf(dir.file('s.json'))
    const del = await request(`${first.url}/tunnels/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } })
    assert.equal(del.statusCode, 204)
    await del.body.text()
    await agent.exited

    const second = await servers.restart()
    assert.equal(await wsStatus(second, id, secret), 401, 'the revoked secret opens /ws after the restart')
    // An agent holding the old credentials must not bring the URL back.
    const revived = jobs.add(await startAgentProcess(second.url, service.url, { stateFile: dir.file('copy.json') }))
    assert.notEqual(revived.id, id, 'the agent had to register a new tunnel')
    assert.equal(await status(`${public_url}echo`), 410, 'the revoked URL after the restart')
  })

  it('a --name whose owner is away cannot be registered by someone else after a restart', async () => {
    const service = jobs.add(await startLocalService())
    const servers = await restartable()
    const dir = jobs.add(tempDir())
    const owner = jobs.add(await startAgentProcess(servers.current().url, service.url, { stateFile: dir.file('o.json'), args: ['--name', 'owned-name'] }))
    const ownerSecret = stateOf(dir.file('o.json')).secret
    await owner.stop('SIGTERM')

    const second = await servers.restart()
    const res = await request(`${second.url}/register`, {
      method: 'POST',
      body: JSON.stringify({ name: 'owned-name' }),
      headers: { 'content-type': 'application/json' },
    })
    const body = (await res.body.json()) as { error?: string; secret?: string }
    assert.notEqual(body.secret, ownerSecret, "a newcomer received the owner's secret")
    assert.equal(res.statusCode, 409, 'the name is still taken')
    assert.equal(body.error, 'ADIT_ERR_NAME_TAKEN')
    // The owner comes back and keeps its name.
    const back = jobs.add(await startAgentProcess(second.url, service.url, { stateFile: dir.file('o.json'), args: ['--name', 'owned-name'] }))
    assert.equal(back.id, 'owned-name')
    assert.equal(await status(`${back.publicUrl}echo`), 200)
  })
})
