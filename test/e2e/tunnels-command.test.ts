import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import { cleanupList } from '../harness/cleanup.js'
import { httpGet } from '../harness/http-client.js'
import { startLoad } from '../harness/load-loop.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startAgentProcess, startServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'

function stateOf(path: string): { id: string; secret: string; public_url: string } {
  return JSON.parse(readFileSync(path, 'utf8')) as { id: string; secret: string; public_url: string }
}

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  const child = spawnAdit(args, env)
  const code = await child.exited
  return { code, out: child.lines.join('\n') }
}

describe('adit tunnels ls | rm | rotate', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('rotate with traffic flowing: the state file gets the new secret, the running agent moves to it, no request is lost', async (t) => {
    const service = jobs.add(await startLocalService())
    // A short grace, and connections replaced every ~2 s: once the grace is over, every
    // connection the agent opens needs the new secret, or the tunnel goes down (401, then a new tunnel).
    const server = jobs.add(await startServerProcess({ env: { ADIT_ROTATION_GRACE: '1500ms' } }))
    const dir = jobs.add(tempDir())
    const stateFile = dir.file('s.json')
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile, args: ['--max-connection-age', '2s'] }))
    const before = stateOf(stateFile)
    const load = startLoad(() => `${agent.publicUrl}echo`, { concurrency: 4, maxRequests: 20_000, maxMs: 30_000 })
    await new Promise((r) => setTimeout(r, 1000))
    const rotated = await run(['tunnels', 'rotate', '--state-file', stateFile])
    assert.equal(rotated.code, 0, rotated.out)
    assert.match(rotated.out, new RegExp(`rotated tunnel ${before.id}`))
    const after = stateOf(stateFile)
    assert.equal(after.id, before.id)
    assert.notEqual(after.secret, before.secret)
    assert.equal(statSync(stateFile).mode & 0o777, 0o600)
    await agent.waitForLine((l) => l.includes('new tunnel secret'), 10_000)
    // Past the grace and two connection ages: only the new secret can have kept the tunnel up.
    await new Promise((r) => setTimeout(r, 5000))
    const result = await load.stop()
    t.diagnostic(`rotate under load: ${result.ok} ok, ${result.failed} failed`)
    assert.equal(result.failed, 0, result.failures.join('\n'))
    assert.ok(result.ok > 50, `traffic flowed (${result.ok} requests)`)
    assert.ok(!agent.lines.some((l) => l.includes('"reregistered":true')), 'the agent kept its tunnel (no re-registration)')
    assert.equal((await httpGet(`${agent.publicUrl}echo`)).status, 200)
  })

  it('ls lists the state files of the config folder; rm revokes the tunnel and removes its state file', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_ADMIN_TOKEN: 'admin-token-0123456789abcdef' } }))
    const home = jobs.add(tempDir())
    const env = { XDG_CONFIG_HOME: home.path }
    const stateFile = `${home.path}/adit/agent-state.json`
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile, env }))
    const ls = await run(['tunnels', 'ls'], env)
    assert.equal(ls.code, 0, ls.out)
    assert.match(ls.out, new RegExp(`${agent.id}\\s+${agent.publicUrl.replace(/[.?]/g, '\\$&')}`))
    const withServer = await run(['tunnels', 'ls', '--admin-token', 'admin-token-0123456789abcdef'], env)
    assert.equal(withServer.code, 0, withServer.out)
    assert.match(withServer.out, new RegExp(`on ${server.url}[^]*${agent.id}\\s+2`), 'the server lists the tunnel with its two connections')
    const removed = await run(['tunnels', 'rm'], env)
    assert.equal(removed.code, 0, removed.out)
    assert.match(removed.out, new RegExp(`deleted tunnel ${agent.id}`))
    assert.ok(!existsSync(stateFile), 'the state file is gone')
    assert.notEqual(await agent.exited, 0, 'the revoked agent stops')
    assert.equal((await httpGet(`${agent.publicUrl}echo`)).status, 410)
    const empty = await run(['tunnels', 'ls'], env)
    assert.match(empty.out, /no tunnels saved/)
    const none = await run(['tunnels', 'rotate'], env)
    assert.notEqual(none.code, 0)
    assert.match(none.out, /no tunnel in .*agent-state\.json/)
  })
})
