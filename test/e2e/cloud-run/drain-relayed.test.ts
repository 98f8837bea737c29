/**
 * Scale-in on Cloud Run sends SIGTERM to an instance that is carrying public
 * requests for agents connected to *other* instances (relayed over Redis);
 * Cloud Run gives them 10 s. The draining server must let those finish
 * within its --drain-timeout, not only the streams of its own agents.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { clusterEnv, redisOrSkip, REDIS_URL, runPrefix, startMember } from '../../harness/cluster.js'
import { startLocalService, type LocalService } from '../../harness/local-service.js'
import { startAgentProcess, type AgentProcess, type ServerProcess } from '../../harness/processes.js'
import { tempDir } from '../../harness/temp.js'

const run = await redisOrSkip('draining instance finishes relayed requests')

describe('a draining instance finishes the public requests it relays to another instance', { skip: !run }, () => {
  const dir = tempDir()
  let service: LocalService
  let a: ServerProcess
  let b: ServerProcess
  let agent: AgentProcess
  let env: NodeJS.ProcessEnv
  before(async () => {
    // 10 chunks `ms` apart (200 by default: a 2 s response).
    service = await startLocalService((req, res) => {
      const paced = /^\/paced(?:\?ms=(\d+))?$/.exec(req.url ?? '')
      if (paced === null) return false
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' })
      let i = 0
      const timer = setInterval(
        () => {
          res.write(String(i))
          if (++i === 10) {
            clearInterval(timer)
            res.end()
          }
        },
        Number(paced[1] ?? 200),
      )
      res.on('close', () => clearInterval(timer))
      return true
    })
    env = clusterEnv(REDIS_URL, runPrefix('drain-relayed'), 'drain-relayed-signing-key-0123456789abcdef', { ADIT_ALLOW_OPEN_REGISTRATION: 'true' })
    a = await startMember(env)
    b = await startMember(env)
    // The agent is on B only; A serves the tunnel through the relay.
    agent = await startAgentProcess(b.url, service.url, { stateFile: dir.file('state.json') })
  })
  after(async () => {
    await agent?.stop()
    await a?.stop('SIGKILL')
    await b?.stop('SIGKILL')
    await service?.close()
    dir.remove()
  })

  it('a 2 s response relayed through A completes though A got SIGTERM 300 ms into it', async () => {
    const path = new URL(agent.publicUrl).pathname
    const warm = await request(`${a.url}${path}echo`)
    assert.equal(warm.statusCode, 200, 'A serves the tunnel through the relay')
    await warm.body.text()
    const res = await request(`${a.url}${path}paced`)
    assert.equal(res.statusCode, 200)
    await delay(300)
    const exit = a.stop('SIGTERM', 15_000)
    const body = await res.body.text().catch((e: Error) => `failed: ${e.message}`)
    assert.equal(body, '0123456789')
    assert.equal(await exit, 0)
  })

  // A has no agent connection of its own, so nothing of its drain waited for this exchange: it was cut
  // about 2 s after SIGTERM (1 s for public sockets to go, 1 s before closeAllConnections), inside the 8 s drain.
  it('a 5 s response relayed through another instance completes though that instance got SIGTERM 300 ms into it', async () => {
    const c = await startMember(env)
    try {
      const path = new URL(agent.publicUrl).pathname
      const warm = await request(`${c.url}${path}echo`)
      assert.equal(warm.statusCode, 200, 'C serves the tunnel through the relay')
      await warm.body.text()
      const started = Date.now()
      const res = await request(`${c.url}${path}paced?ms=500`)
      assert.equal(res.statusCode, 200)
      await delay(300)
      const exit = c.stop('SIGTERM', 15_000)
      const body = await res.body.text().catch((e: Error) => `failed after ${Date.now() - started} ms: ${e.message}`)
      assert.equal(body, '0123456789')
      assert.equal(await exit, 0)
    } finally {
      await c.stop('SIGKILL')
    }
  })
})
