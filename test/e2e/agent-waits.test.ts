import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { cleanupList } from '../harness/cleanup.js'
import { httpGet } from '../harness/http-client.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'
import { saveState } from '../../src/agent/state-file.js'

/** A loopback port that was free a moment ago (the server is started on it later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

function events(lines: readonly string[], event: string): Array<Record<string, unknown>> {
  return lines.filter((l) => l.startsWith(`{"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('the agent never gives up: it waits for the server, honours Retry-After, and stops only on refused credentials', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('started before the server: says once that it waits, then serves when the server comes up', async () => {
    const service = jobs.add(await startLocalService())
    const dir = jobs.add(tempDir())
    const port = await freePort()
    const agent = jobs.add(
      spawnAdit(['agent', '--server', `http://127.0.0.1:${port}`, '--local', service.url, '--json', '--no-inspect', '--state-file', dir.file('s.json')]),
    )
    const waiting = JSON.parse(await agent.waitForLine((l) => l.startsWith('{"event":"waiting"'))) as Record<string, unknown>
    assert.equal(waiting.reason, 'unreachable')
    assert.match(String(waiting.message), /unreachable/)
    // Several attempts fail meanwhile (back-off from 250 ms); the agent says it once.
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(agent.proc.exitCode, null, 'the agent is still running')
    const server = jobs.add(await startServerProcess({ port }))
    const ready = JSON.parse(await agent.waitForLine((l) => l.startsWith('{"event":"ready"'), 40_000)) as { public_url: string }
    assert.equal(events(agent.lines, 'waiting').length, 1, agent.lines.join('\n'))
    const res = await httpGet(`${ready.public_url}echo`)
    assert.equal(res.status, 200)
    await server.stop()
    await agent.stop()
  })

  it('429 on /register: waits as Retry-After asks, then registers', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_REGISTER_RATE: '0.2/s' } }))
    // The one registration these 5 s allow goes to the test: the agent's first attempt meets 429.
    const first = await request(`${server.url}/register`, { method: 'POST' })
    assert.equal(first.statusCode, 201)
    await first.body.text()
    const agent = jobs.add(spawnAdit(['agent', '--server', server.url, '--local', service.url, '--json', '--no-inspect', '--state-file', 'none']))
    const waitingLine = await agent.waitForLine((l) => l.startsWith('{"event":"waiting"'))
    const waitedFrom = Date.now()
    const waiting = JSON.parse(waitingLine) as { reason: string; retry_in_ms: number; message: string }
    assert.equal(waiting.reason, 'rate-limited')
    assert.ok(waiting.retry_in_ms >= 1000, `retries no sooner than Retry-After (1 s), got ${waiting.retry_in_ms} ms`)
    assert.match(waiting.message, /429/)
    const ready = JSON.parse(await agent.waitForLine((l) => l.startsWith('{"event":"ready"'), 20_000)) as { public_url: string }
    assert.ok(Date.now() - waitedFrom >= 800, 'the agent waited before retrying')
    assert.equal((await httpGet(`${ready.public_url}echo`)).status, 200)
    await agent.stop()
  })

  it('a wrong API key is final: exits non-zero with one message that says the fix', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_API_KEYS: 'right-key-0123456789abcdef' } }))
    const agent = jobs.add(
      spawnAdit(['agent', '--server', server.url, '--local', service.url, '--no-inspect', '--state-file', 'none', '--api-key', 'wrong-key-0123456789abcdef'], {
        LOG_LEVEL: 'info',
      }),
    )
    const code = await Promise.race([agent.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))])
    assert.notEqual(code, 'still running', 'the agent does not wait on refused credentials')
    assert.notEqual(code, 0)
    const refusals = agent.lines.filter((l) => l.includes('401'))
    assert.equal(refusals.length, 1, `the refusal is printed once:\n${agent.lines.join('\n')}`)
    assert.match(refusals[0]!, /--api-key|ADIT_API_KEY/)
    assert.match(refusals[0]!, /ADIT_ERR_REGISTRATION/)
  })
})

describe('SIGTERM while the agent waits for its server: exits 0 at once', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  // Seen once, not reproduced since (about 100 tries: Node 20 and 24, TLS and cleartext, register and /ws
  // back-off, SIGTERM in a back-off sleep or a connect attempt, stdout a closed pipe): an agent retrying a gone
  // server that needed SIGKILL. These keep the cases tried.
  for (const gone of [false, true])
    for (const closedStdout of [false, true])
      it(`${gone ? 'server gone (saved tunnel, /ws back-off)' : 'server never started (/register back-off)'}${closedStdout ? ', stdout a closed pipe' : ''}`, async () => {
        const dir = jobs.add(tempDir())
        const server = `https://localhost:${await freePort()}`
        if (gone) await saveState(dir.file('s.json'), { server, id: 'abcdefghijklmnop', secret: 's'.repeat(43), public_url: `${server}/pub/abcdefghijklmnop/` })
        // At debug level every failed attempt is logged: with the pipes closed, writes keep meeting EPIPE.
        const agent = jobs.add(
          spawnAdit(['agent', '--server', server, '--local', '3000', '--no-inspect', '--state-file', dir.file('s.json')], {
            LOG_LEVEL: closedStdout ? 'debug' : 'info',
          }),
        )
        await agent.waitForLine((l) => l.startsWith('adit: waiting: server'))
        // A reader that went away (`2>&1 | head -1`): later writes meet EPIPE.
        if (closedStdout) {
          agent.proc.stdout!.destroy()
          agent.proc.stderr!.destroy()
        }
        await new Promise((r) => setTimeout(r, 1500))
        assert.equal(agent.proc.exitCode, null, agent.lines.join('\n'))
        const started = Date.now()
        const code = await agent.stop('SIGTERM', 5000)
        const ms = Date.now() - started
        assert.equal(code, 0, `exit ${code} after ${ms} ms (-1: SIGKILL after 5 s); ${agent.lines.join('\n')}`)
        assert.ok(ms < 2000, `exited ${ms} ms after SIGTERM`)
      })
})
