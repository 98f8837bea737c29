/**
 * TUNNEL_IDLE_TTL with two server processes on one Redis: an instance that
 * does not hold a tunnel's agent must not expire it while the agent is
 * connected to the other instance, and a tunnel whose agent went away is still
 * expired everywhere after the TTL.
 *
 * REDIS_URL (default redis://127.0.0.1:6379); its own key prefix, deleted at the end.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { adminClient, clusterEnv, deleteKeys, redisOrSkip, REDIS_URL, runPrefix, startMember } from '../harness/cluster.js'
import { startLocalService } from '../harness/local-service.js'
import { startAgentProcess, type ServerProcess } from '../harness/processes.js'
import { cleanup } from '../harness/security-helpers.js'
import { tempDir } from '../harness/temp.js'

/** The status of a GET, or 0 when no answer came within 15 s. */
async function status(url: string): Promise<number> {
  try {
    const res = await request(url, { headersTimeout: 15_000, bodyTimeout: 15_000 })
    await res.body.text()
    return res.statusCode
  } catch {
    return 0
  }
}

const available = await redisOrSkip('cluster idle expiry (Redis)')

if (available) {
  const admin = await adminClient(REDIS_URL)
  after(() => admin.destroy())

  describe('TUNNEL_IDLE_TTL across two instances on one Redis', () => {
    const jobs = cleanup()
    const prefix = runPrefix('e2e-idle')
    const env = clusterEnv(REDIS_URL, prefix, randomBytes(32).toString('base64'), { TUNNEL_IDLE_TTL: '500ms', ADIT_HOLD_TIMEOUT: '1s' })
    after(async () => {
      await jobs.run()
      await deleteKeys(admin, prefix)
    })

    it('an agent on A for ten TTLs: B never expires its tunnel; once the agent is gone, B and A answer 410', async () => {
      const service = jobs.add(await startLocalService())
      const a: ServerProcess = jobs.add(await startMember(env))
      const b: ServerProcess = jobs.add(await startMember(env))
      const dir = jobs.add(tempDir())
      const agent = jobs.add(await startAgentProcess(a.url, service.url, { stateFile: dir.file('s.json') }))
      const via = (server: ServerProcess): string => `${server.url}/pub/${agent.id}/echo`
      // Ten TTLs (and several of B's sweeps), looked at through B every 100 ms.
      const seen = new Map<number, number>()
      const started = Date.now()
      for (let i = 0; i < 200 && Date.now() - started < 5_000; i++) {
        const code = await status(via(b))
        seen.set(code, (seen.get(code) ?? 0) + 1)
        if (code !== 200) break
        await delay(100)
      }
      const expired = b.lines.filter((l) => l.includes('tunnel expired')).length + a.lines.filter((l) => l.includes('tunnel expired')).length
      assert.deepEqual([...seen.keys()], [200], `statuses through B while the agent is connected to A: ${JSON.stringify([...seen])}; expiry lines: ${expired}`)
      assert.equal(agent.proc.exitCode, null, `the agent is still running; last lines:\n${agent.lines.slice(-5).join('\n')}`)
      assert.equal(await status(via(a)), 200)

      // The agent goes away for good: the tunnel expires after the TTL, through either instance.
      await agent.stop('SIGKILL')
      const gone = Date.now()
      let last = 0
      // A request sent just after the kill may be held for the agent's return first (ADIT_HOLD_TIMEOUT, 1 s here).
      while (Date.now() - gone < 20_000) {
        last = await status(via(b))
        if (last === 410) break
        await delay(100)
      }
      assert.equal(last, 410, 'B answers 410 once the agent has been away longer than the TTL')
      assert.equal(await status(via(a)), 410)
    })
  })
}
