import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'

const hex = (secret: string, ...parts: string[]) => {
  const mac = createHmac('sha256', secret)
  for (const p of parts) mac.update(p)
  return mac.digest('hex')
}

interface Echo {
  sha256: string
  length: number
}

describe('webhook verification on the agent: GitHub, Stripe, Slack, generic HMAC', () => {
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess
  const dir = tempDir()
  const hook = (name: string) => [`  - path: /hooks/${name}`, '    local: SERVICE', '    strip_prefix: true']

  before(async () => {
    service = await startLocalService()
    server = await startServerProcess()
    const config = dir.file('agent.yaml')
    writeFileSync(
      config,
      [
        'routes:',
        ...hook('github'),
        '    webhook: { provider: github, secret: gh-secret }',
        ...hook('stripe'),
        '    webhook: { provider: stripe, secret_env: ADIT_TEST_STRIPE_SECRET }',
        ...hook('slack'),
        '    webhook: { provider: slack, secret: slack-secret, tolerance: 5m }',
        ...hook('generic'),
        '    webhook: { provider: hmac, secret: generic-secret, header: X-Signature-256, prefix: "sha256=", max_body: 1k }',
        '',
      ]
        .join('\n')
        .replaceAll('SERVICE', service.url),
    )
    // --local (from the harness) is the catch-all after the file's routes.
    agent = await startAgentProcess(server.url, service.url, {
      stateFile: dir.file('state.json'),
      args: ['--config', config],
      env: { ADIT_TEST_STRIPE_SECRET: 'whsec_e2e' },
    })
  })
  after(async () => {
    await agent?.stop()
    await server?.stop()
    await service?.close()
    dir.remove()
  })

  async function post(name: string, body: string | Readable, headers: Record<string, string>) {
    const res = await request(`${server.url}/pub/${agent.id}/hooks/${name}/echo`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    })
    return { status: res.statusCode, text: await res.body.text() }
  }

  it('github: a valid signature reaches the service with the exact body; wrong secret and tampered body are 401 with a reason', async () => {
    const body = '{"action":"opened","number":1}'
    const ok = await post('github', body, { 'x-hub-signature-256': `sha256=${hex('gh-secret', body)}` })
    assert.equal(ok.status, 200)
    assert.equal((JSON.parse(ok.text) as Echo).length, body.length)
    assert.equal((JSON.parse(ok.text) as Echo).sha256, createHash('sha256').update(body).digest('hex'))
    const seen = service.requests.length
    const wrong = await post('github', body, { 'x-hub-signature-256': `sha256=${hex('not-the-secret', body)}` })
    assert.equal(wrong.status, 401)
    assert.match(wrong.text, /^401 Unauthorized: webhook signature does not match the body \(request id [^)]+\)\n$/)
    const tampered = await post('github', `${body} `, { 'x-hub-signature-256': `sha256=${hex('gh-secret', body)}` })
    assert.equal(tampered.status, 401)
    const unsigned = await post('github', body, {})
    assert.match(unsigned.text, /no X-Hub-Signature-256 header/)
    assert.equal(service.requests.length, seen, 'no failed delivery reached the service')
    const line = await agent.waitForLine((l) => l.includes('"answered_by":"webhook github: webhook signature missing'))
    assert.equal((JSON.parse(line) as { status: number }).status, 401)
  })

  it('stripe: t and v1 over "t.body" with the secret from the environment; stale timestamp and tampered body are 401', async () => {
    const body = '{"id":"evt_1","type":"charge.succeeded"}'
    const now = Math.floor(Date.now() / 1000)
    const sign = (t: number, payload = body, secret = 'whsec_e2e') => `t=${t},v1=${hex(secret, `${t}.`, payload)}`
    assert.equal((await post('stripe', body, { 'stripe-signature': sign(now) })).status, 200)
    assert.equal((await post('stripe', body, { 'stripe-signature': sign(now, body, 'whsec_other') })).status, 401)
    const stale = await post('stripe', body, { 'stripe-signature': sign(now - 600) })
    assert.equal(stale.status, 401)
    assert.match(stale.text, /timestamp is more than 300 s from now/)
    assert.equal((await post('stripe', `${body}x`, { 'stripe-signature': sign(now) })).status, 401)
  })

  it('slack: v0 over "v0:ts:body" with X-Slack-Request-Timestamp; stale timestamp and tampered body are 401', async () => {
    const body = 'token=x&team_id=T1&command=%2Fdeploy&text=now'
    const ts = String(Math.floor(Date.now() / 1000))
    const headers = (t: string, secret = 'slack-secret', payload = body) => ({
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': t,
      'x-slack-signature': `v0=${hex(secret, `v0:${t}:`, payload)}`,
    })
    assert.equal((await post('slack', body, headers(ts))).status, 200)
    assert.equal((await post('slack', body, headers(ts, 'wrong'))).status, 401)
    const old = String(Math.floor(Date.now() / 1000) - 3600)
    assert.match((await post('slack', body, headers(old))).text, /timestamp/)
    assert.equal((await post('slack', body.replace('now', 'later'), headers(ts))).status, 401)
  })

  it('generic HMAC header: valid passes, wrong secret and tampered body are 401; a body over the cap is 413, with or without Content-Length', async () => {
    const body = '{"ping":true}'
    assert.equal((await post('generic', body, { 'x-signature-256': `sha256=${hex('generic-secret', body)}` })).status, 200)
    assert.equal((await post('generic', body, { 'x-signature-256': hex('generic-secret', body) })).status, 401)
    assert.equal((await post('generic', body, { 'x-signature-256': `sha256=${hex('other-secret', body)}` })).status, 401, 'wrong secret')
    assert.equal((await post('generic', '{"ping":false}', { 'x-signature-256': `sha256=${hex('generic-secret', body)}` })).status, 401, 'tampered body')
    const big = 'x'.repeat(2048)
    const declared = await post('generic', big, { 'x-signature-256': `sha256=${hex('generic-secret', big)}` })
    assert.equal(declared.status, 413)
    assert.match(declared.text, /^413 Payload Too Large: webhook body over 1024 bytes/)
    const chunked = await post('generic', Readable.from([Buffer.from(big.slice(0, 1000)), Buffer.from(big.slice(1000))]), {
      'x-signature-256': `sha256=${hex('generic-secret', big)}`,
    })
    assert.equal(chunked.status, 413)
    // The tunnel still works after refusing mid-body.
    assert.equal((await post('generic', body, { 'x-signature-256': `sha256=${hex('generic-secret', body)}` })).status, 200)
  })
})
