/**
 * Cloud Run cuts every request at the service's timeout, an agent's
 * WebSocket included. The server knows that timeout (`--service-timeout`,
 * 300 s by default on Cloud Run) and tells the agent on the /ws upgrade; the
 * agent replaces each connection, make before break, at about half of it —
 * so the front end never cuts one, and no public request fails.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startCloudRun, type CloudRun } from '../../harness/cloud-run/index.js'
import { startLoad } from '../../harness/load-loop.js'
import { startLocalService, type LocalService } from '../../harness/local-service.js'
import { startAgentProcess, type AgentProcess } from '../../harness/processes.js'
import { tempDir } from '../../harness/temp.js'

const API_KEY = 'cloud-run-connection-age-key-0123456789'

describe('under the Cloud Run request timeout, the agent rotates its connections before the front end cuts them', () => {
  const dir = tempDir()
  let cr: CloudRun
  let service: LocalService
  let agent: AgentProcess
  before(async () => {
    service = await startLocalService()
    cr = await startCloudRun({
      timeoutMs: 6_000,
      env: { ADIT_API_KEYS: API_KEY, ADIT_SIGNING_KEY: 'cloud-run-connection-age-signing-key-0123456789', ADIT_SERVICE_TIMEOUT: '6s', LOG_LEVEL: 'warn' },
    })
    // The agent keeps its default --max-connection-age (50 min): only the server's word can make it rotate in time.
    agent = await startAgentProcess(cr.url, service.url, { stateFile: dir.file('state.json'), args: ['--api-key', API_KEY] })
  })
  after(async () => {
    await agent?.stop()
    await cr?.close()
    await service?.close()
    dir.remove()
  })

  it('no request fails and no agent WebSocket reaches the timeout over two and a half timeouts of load', async () => {
    const small = startLoad(() => `${agent.publicUrl}echo`, { concurrency: 3, maxMs: 15_000, maxRequests: 4_000 })
    // 2 MiB downloads: the ones in flight when a connection is cut fail.
    const downloads = startLoad(() => `${agent.publicUrl}bytes/${2 * 1024 * 1024}`, { concurrency: 2, maxMs: 15_000, maxRequests: 400 })
    const [result, big] = await Promise.all([small.done, downloads.done])
    process.stderr.write(
      `connection-age: ${JSON.stringify({ small: result.ok, downloads: big.ok, failed: result.failed + big.failed, cuts: cr.counters.upgradeTimeouts, upgrades: cr.counters.upgrades })}\n`,
    )
    assert.equal(result.failed, 0, `${result.failed} of ${result.ok + result.failed} small requests failed: ${result.failures.join(' | ')}`)
    assert.equal(big.failed, 0, `${big.failed} of ${big.ok + big.failed} downloads failed: ${big.failures.join(' | ')}`)
    assert.ok(result.ok > 20 && big.ok > 5, `only ${result.ok} small requests and ${big.ok} downloads answered`)
    assert.equal(cr.counters.upgradeTimeouts, 0, 'the front end cut an agent WebSocket at its timeout')
    assert.ok(cr.counters.upgrades >= 4, `the agent opened ${cr.counters.upgrades} WebSockets: it did not rotate`)
  })
})
