import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { startAgentProcess, startServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanupList } from '../harness/cleanup.js'

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await check()) return Date.now() - started
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('failures end with a clear status, and the server lives on', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('a slow service → 504 after the response timeout, and the next request is served', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ args: ['--response-timeout', '500ms'] }))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json') }))
    const slow = await request(`${agent.publicUrl}slow`)
    assert.equal(slow.statusCode, 504)
    assert.equal(slow.headers['x-adit-error'], 'ADIT_ERR_AGENT_TIMEOUT')
    assert.match(await slow.body.text(), /^504 timeout waiting for agent/)
    const next = await request(`${agent.publicUrl}echo`)
    assert.equal(next.statusCode, 200)
    await next.body.text()
  })

  it('the service down → 502 that says the local service is unreachable', async () => {
    const service = await startLocalService()
    const deadUrl = service.url
    await service.close()
    const server = jobs.add(await startServerProcess())
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(server.url, deadUrl, { stateFile: dir.file('s.json') }))
    const res = await request(`${agent.publicUrl}anything`)
    assert.equal(res.statusCode, 502)
    assert.equal(res.headers['x-adit-error'], 'ADIT_ERR_LOCAL_UNREACHABLE')
    assert.match(await res.body.text(), /local service unreachable.*ECONNREFUSED/)
    const health = await request(`${server.url}/healthz`)
    assert.equal(health.statusCode, 200)
    await health.body.text()
  })

  it('the agent killed mid-download → the client sees an aborted response; a restarted agent keeps the id and serves', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ args: ['--hold-timeout', '300ms'] }))
    const dir = jobs.add(tempDir())
    const stateFile = dir.file('s.json')
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile }))
    const outcome = await new Promise<{ received: number; error: string | undefined; complete: boolean }>((resolve) => {
      let received = 0
      const req = httpRequest(`${agent.publicUrl}bytes/${1024 * 1024 * 1024}`, { agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received > 1024 * 1024 && agent.proc.exitCode === null && !agent.proc.killed) agent.proc.kill('SIGKILL')
        })
        res.on('aborted', () => undefined)
        res.on('error', (e) => resolve({ received, error: e.message, complete: res.complete }))
        res.on('end', () => resolve({ received, error: undefined, complete: res.complete }))
      })
      req.on('error', (e) => resolve({ received, error: e.message, complete: false }))
      req.end()
    })
    assert.equal(outcome.complete, false, 'a cut download must not look complete')
    assert.ok(outcome.received < 1024 * 1024 * 1024)
    // The agent was just here: the request is held for it, then told to retry.
    const gone = await request(`${agent.publicUrl}echo`)
    assert.equal(gone.statusCode, 503)
    assert.equal(gone.headers['x-adit-error'], 'ADIT_ERR_AGENT_RECONNECTING')
    assert.equal(gone.headers['retry-after'], '2')
    await gone.body.text()

    const again = jobs.add(await startAgentProcess(server.url, service.url, { stateFile }))
    assert.equal(again.id, agent.id, 'the state file keeps the tunnel id')
    assert.equal(again.publicUrl, agent.publicUrl)
    const res = await request(`${again.publicUrl}echo`)
    assert.equal(res.statusCode, 200)
    await res.body.text()
  })

  it('a server restarted with the same ADIT_SIGNING_KEY takes the agent back by itself, same URL', async () => {
    const service = jobs.add(await startLocalService())
    const data = jobs.add(tempDir('adit-data-'))
    const env = { ADIT_SIGNING_KEY: randomBytes(32).toString('base64'), ADIT_DATA_DIR: data.path }
    const first = jobs.add(await startServerProcess({ env }))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(first.url, service.url, { stateFile: dir.file('s.json'), env: { LOG_LEVEL: 'warn' } }))
    const before = await request(`${agent.publicUrl}echo`)
    assert.equal(before.statusCode, 200)
    await before.body.text()
    await first.stop('SIGKILL')
    const second = jobs.add(await startServerProcess({ env, port: first.port }))
    const ms = await until(
      async () => {
        const res = await request(`${agent.publicUrl}echo`).catch(() => null)
        if (res === null) return false
        await res.body.text()
        return res.statusCode === 200
      },
      15_000,
      'the agent to reconnect to the restarted server',
    )
    // Logs leave in batches (within 100 ms): wait for the line rather than read the lines so far.
    await second.waitForLine((l) => l.includes('"message":"agent connected"') && l.includes(agent.id), 2000)
    assert.ok(ms >= 0)
  })

  it('401 on a wrong secret or an unknown id at /ws, and the original ?id=&secret= form works', async () => {
    const server = jobs.add(await startServerProcess())
    const reg = await request(`${server.url}/register`, { method: 'POST' })
    const { id, secret } = (await reg.body.json()) as { id: string; secret: string }
    const wsBase = server.url.replace('http:', 'ws:')
    const status = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, ['adit.v2'], { headers })
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode!)
          res.resume()
          ws.terminate()
        })
        ws.on('open', () => {
          resolve(101)
          ws.close()
        })
        ws.on('error', () => undefined)
      })
    assert.equal(await status(`${wsBase}/ws?id=${id}`, { authorization: `Bearer ${secret.slice(0, -2)}xx` }), 401)
    assert.equal(await status(`${wsBase}/ws?id=${id}`), 401)
    assert.equal(await status(`${wsBase}/ws?id=aaaaaaaaaaaaaaaa`, { authorization: `Bearer ${secret}` }), 401)
    assert.equal(await status(`${wsBase}/ws?id=${id}`, { authorization: `Bearer ${secret}` }), 101)
    assert.equal(await status(`${wsBase}/ws?id=${id}&secret=${encodeURIComponent(secret)}`), 101)
    const log = server.lines.join('\n')
    assert.ok(!log.includes(secret), 'the secret never reaches a log line')
  })
})
