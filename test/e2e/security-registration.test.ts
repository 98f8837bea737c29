import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { spawnAdit, startAgentProcess, startServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'

const keyA = 'key-a-9f8e7d6c5b4a3210'
const keyB = 'key-b-0123456789abcdef'

async function register(base: string, key?: string, body = '{}') {
  const res = await request(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body,
  })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as Record<string, string> }
}

describe('registration is guarded: API keys, Cloud Run refusal, rate limit, tunnels per key', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  it('API keys: 401 without or with a wrong key, 201 with any configured key; the agent sends --api-key', async () => {
    const server = jobs.add(await startServerProcess({ env: { ADIT_API_KEYS: `${keyA}, ${keyB}` } }))
    for (const key of [undefined, 'wrong-key-000000000000', `${keyA}x`]) {
      const r = await register(server.url, key)
      assert.equal(r.status, 401)
      assert.equal(r.body.error, 'ADIT_ERR_UNAUTHORIZED')
      assert.equal(r.headers['www-authenticate'], 'Bearer')
    }
    assert.equal((await register(server.url, keyB)).status, 201)

    const service = jobs.add(await startLocalService())
    const dir = jobs.add(tempDir())
    const agent = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('a.json'), args: ['--api-key', keyA] }))
    const res = await request(`${agent.publicUrl}echo`)
    assert.equal(res.statusCode, 200)
    await res.body.text()

    const keyless = jobs.add(spawnAdit(['agent', '--server', server.url, '--local', service.url, '--state-file', 'none', '--json'], { ADIT_API_KEY: '' }))
    assert.notEqual(await keyless.exited, 0)
    assert.ok(
      keyless.lines.some((l) => l.includes('ADIT_ERR_REGISTRATION') && l.includes('401')),
      keyless.lines.join('\n'),
    )
    const log = [...server.lines, ...agent.lines, ...keyless.lines].join('\n')
    assert.ok(!log.includes(keyA) && !log.includes(keyB), 'API keys never reach a log line')
  })

  it('on Cloud Run (K_SERVICE) without auth the server refuses to start and says why; --allow-open-registration overrides', async () => {
    const refused = jobs.add(spawnAdit(['server', '--host', '127.0.0.1', '--port', '0'], { K_SERVICE: 'adit-test' }))
    assert.notEqual(await refused.exited, 0)
    const text = refused.lines.join('\n')
    assert.match(text, /ADIT_ERR_CONFIG/)
    assert.match(text, /Cloud Run/)
    assert.match(text, /ADIT_API_KEYS/)
    const allowed = jobs.add(await startServerProcess({ env: { K_SERVICE: 'adit-test' }, args: ['--allow-open-registration'] }))
    assert.equal((await register(allowed.url)).status, 201)
    const withKeys = jobs.add(await startServerProcess({ env: { K_SERVICE: 'adit-test', ADIT_API_KEYS: keyA } }))
    assert.equal((await register(withKeys.url)).status, 401)
    assert.equal((await register(withKeys.url, keyA)).status, 201)
  })

  it('per-client-address rate limit: 429 with Retry-After past the burst', async () => {
    const server = jobs.add(await startServerProcess({ env: { ADIT_REGISTER_RATE: '3/m' } }))
    for (let i = 0; i < 3; i++) assert.equal((await register(server.url)).status, 201)
    const limited = await register(server.url)
    assert.equal(limited.status, 429)
    assert.equal(limited.body.error, 'ADIT_ERR_RATE_LIMITED')
    assert.ok(Number(limited.headers['retry-after']) >= 1)
    assert.equal((await request(`${server.url}/healthz`)).statusCode, 200)
  })

  it('tunnels per key: 429 ADIT_ERR_TOO_MANY_TUNNELS at the cap, other keys unaffected, a delete frees a slot', async () => {
    const server = jobs.add(await startServerProcess({ env: { ADIT_API_KEYS: `${keyA},${keyB}`, ADIT_MAX_TUNNELS_PER_KEY: '2' } }))
    const first = await register(server.url, keyA)
    assert.equal(first.status, 201)
    assert.equal((await register(server.url, keyA)).status, 201)
    const over = await register(server.url, keyA)
    assert.equal(over.status, 429)
    assert.equal(over.body.error, 'ADIT_ERR_TOO_MANY_TUNNELS')
    assert.equal((await register(server.url, keyB)).status, 201)
    const del = await request(`${server.url}/tunnels/${first.body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${first.body.secret}` } })
    assert.equal(del.statusCode, 204)
    await del.body.text()
    assert.equal((await register(server.url, keyA)).status, 201)
  })

  it('a bad access request is refused with 400 ADIT_ERR_BAD_REQUEST and creates nothing', async () => {
    const server = jobs.add(await startServerProcess())
    for (const access of [{ basic_auth: 'nopassword' }, { allow_ips: ['999.1.1.1/8'] }, { require_jwt: { jwks_url: 'http://127.0.0.1:1/jwks' } }]) {
      const r = await register(server.url, undefined, JSON.stringify({ access }))
      assert.equal(r.status, 400, JSON.stringify(access))
      assert.equal(r.body.error, 'ADIT_ERR_BAD_REQUEST')
    }
  })
})
