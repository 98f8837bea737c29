import assert from 'node:assert/strict'
import { copyFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { startAgentProcess, startServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { startLoad } from '../harness/load-loop.js'
import { startTcpBalancer } from '../harness/tcp-balancer.js'
import { tempDir } from '../harness/temp.js'
import { cleanupList } from '../harness/cleanup.js'
import { adminClient, clusterEnv, deleteKeys, REDIS_URL, runPrefix } from '../harness/cluster.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('never drop a request: every planned disruption under continuous load', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('rolling the agent connections every ~2 s (--max-connection-age 2s): 0 failed requests', async (t) => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess())
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json'), args: ['--max-connection-age', '2s'] }))
    const load = startLoad(() => `${agent.publicUrl}echo`, { concurrency: 4, maxMs: 7000 })
    const result = await load.done
    const connects = server.lines.filter((l) => l.includes('"message":"agent connected"')).length
    t.diagnostic(`rolling: ${result.ok} ok, ${result.failed} failed, ${connects} agent connections opened in 7 s`)
    assert.ok(connects >= 6, `expected the 2 connections to roll at least twice, saw ${connects} connects`)
    assert.equal(result.failed, 0, result.failures.join('\n'))
    assert.ok(result.ok > 100)
  })

  it('SIGTERM to the server while requests stream, a second server taking new connections: 0 failed', async (t) => {
    const service = jobs.add(await startLocalService())
    // Two servers serve one tunnel only through a shared store: a server never accepts a tunnel it has no record of.
    const prefix = runPrefix('never-drop')
    const admin = await adminClient(REDIS_URL)
    jobs.add({ close: async () => (await deleteKeys(admin, prefix), admin.destroy()) })
    const env = clusterEnv(REDIS_URL, prefix, randomBytes(32).toString('base64'))
    const first = jobs.add(await startServerProcess({ env }))
    const second = jobs.add(await startServerProcess({ env }))
    const balancer = jobs.add(await startTcpBalancer([first.port, second.port], 'failover'))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(balancer.url, service.url, { stateFile: dir.file('s.json') }))
    const publicUrl = agent.publicUrl
    const load = startLoad(() => `${publicUrl}bytes/20000`, { concurrency: 4, maxMs: 6000 })
    await sleep(1500)
    const exited = first.stop('SIGTERM', 15_000)
    const code = await exited
    await sleep(1000)
    const result = await load.stop()
    t.diagnostic(`server drain: ${result.ok} ok, ${result.failed} failed; first server exit code ${code}`)
    assert.equal(code, 0)
    assert.equal(result.failed, 0, result.failures.join('\n'))
    // The line may still sit in the logger's 100 ms batch.
    await second.waitForLine((l) => l.includes('"message":"agent connected"'), 2000)
    const after = await request(`${publicUrl}echo`)
    assert.equal(after.statusCode, 200)
    await after.body.text()
  })

  it('killing one of two agents: only the streams it held may fail, every later request succeeds', async (t) => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess())
    const dir = jobs.add(tempDir())
    const one = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('one.json') }))
    copyFileSync(dir.file('one.json'), dir.file('two.json'))
    const two = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('two.json') }))
    assert.equal(two.id, one.id, 'both agents serve the same tunnel')
    const load = startLoad(() => `${one.publicUrl}echo`, { concurrency: 4, maxMs: 5000 })
    await sleep(1500)
    const servedByOne = one.lines.filter((l) => l.startsWith('{"event":"request"')).length
    const servedByTwo = two.lines.filter((l) => l.startsWith('{"event":"request"')).length
    const killedAt = Date.now()
    await one.stop('SIGKILL')
    const result = await load.done
    const lateFailures = result.failedAt.filter((at) => at > killedAt - (Date.now() - 5000) + 200)
    t.diagnostic(`two agents: before the kill agent one served ${servedByOne}, agent two ${servedByTwo}; ${result.ok} ok, ${result.failed} failed`)
    assert.ok(servedByOne > 0 && servedByTwo > 0, 'new streams are balanced across both agents')
    assert.ok(result.failed <= 4, `at most the 4 streams in flight may fail, ${result.failed} did: ${result.failures.join('\n')}`)
    assert.equal(lateFailures.length, 0, 'every request after the kill succeeds')
  })

  it('killing the only agent and restarting it within the hold time: 0 failed', async (t) => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ args: ['--hold-timeout', '15s'] }))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json') }))
    const load = startLoad(() => `${agent.publicUrl}echo`, { concurrency: 4, maxMs: 6000 })
    await sleep(1000)
    const killedAt = Date.now()
    await agent.stop('SIGKILL')
    const again = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json') }))
    const back = Date.now() - killedAt
    const result = await load.done
    t.diagnostic(`agent restart: back after ${back} ms; ${result.ok} ok, ${result.failed} failed`)
    assert.equal(again.id, agent.id)
    assert.equal(result.failed, 0, result.failures.join('\n'))
  })
})
