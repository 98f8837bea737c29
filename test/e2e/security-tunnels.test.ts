import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { request } from 'undici'
import { WebSocket } from 'ws'
import { startAgentProcess, startServerProcess, type Spawned } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { httpGet } from '../harness/http-client.js'
import { cleanup } from '../harness/security-helpers.js'

/** Every process and secret of this file: the last test greps all output for every secret. */
const spawned: Spawned[] = []
const secrets = new Set<string>()

function track<T extends Spawned>(p: T): T {
  spawned.push(p)
  return p
}

function stateOf(path: string): { id: string; secret: string } {
  const state = JSON.parse(readFileSync(path, 'utf8')) as { id: string; secret: string }
  secrets.add(state.secret)
  return state
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers })
  const body = await res.body.text()
  return { status: res.statusCode, headers: res.headers, body }
}

function wsStatus(url: string, secret: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['adit.v2'], { headers: { authorization: `Bearer ${secret}` } })
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

describe('tunnel credentials: rotate, delete, idle expiry, signing-key rotation; secrets never logged', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  it('rotate: new secret (generation+1), the old one works during the grace only; the connected agent is not cut', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(track(await startServerProcess({ env: { ADIT_ROTATION_GRACE: '1500ms' } })))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json') })))
    const { id, secret } = stateOf(dir.file('s.json'))
    assert.equal(statSync(dir.file('s.json')).mode & 0o777, 0o600, 'the state file is 0600')
    const wrong = await request(`${server.url}/tunnels/${id}/rotate`, { method: 'POST', headers: { authorization: `Bearer ${secret.slice(1)}` } })
    assert.equal(wrong.statusCode, 401)
    assert.equal(((await wrong.body.json()) as { error: string }).error, 'ADIT_ERR_UNAUTHORIZED')
    const res = await request(`${server.url}/tunnels/${id}/rotate`, { method: 'POST', headers: { authorization: `Bearer ${secret}` } })
    assert.equal(res.statusCode, 200)
    const rotated = (await res.body.json()) as { secret: string; generation: number }
    secrets.add(rotated.secret)
    assert.equal(rotated.generation, 1)
    assert.notEqual(rotated.secret, secret)
    const ws = `${server.url.replace('http:', 'ws:')}/ws?id=${id}`
    assert.equal(await wsStatus(ws, rotated.secret), 101)
    assert.equal(await wsStatus(ws, secret), 101, 'the old secret still works during the grace')
    assert.equal((await get(`${agent.publicUrl}echo`)).status, 200, 'the connected agent was not cut')
    await until(async () => (await wsStatus(ws, secret)) === 401, 5000, 'the old secret to expire')
    assert.equal(await wsStatus(ws, rotated.secret), 101)
    assert.equal((await get(`${agent.publicUrl}echo`)).status, 200)
  })

  it('delete: 204, GOAWAY REVOKED disconnects the agent (it stops), the URL answers 410, the secret is refused', async () => {
    const service = jobs.add(await startLocalService())
    const adminToken = `admin-${randomBytes(12).toString('hex')}`
    secrets.add(adminToken)
    const server = jobs.add(track(await startServerProcess({ env: { ADIT_ADMIN_TOKEN: adminToken } })))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json') })))
    const { id, secret } = stateOf(dir.file('s.json'))
    const other = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('o.json') })))
    const otherState = stateOf(dir.file('o.json'))
    assert.equal(
      (await request(`${server.url}/tunnels/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${otherState.secret}` } })).statusCode,
      401,
      "another tunnel's secret cannot delete it",
    )
    const del = await request(`${server.url}/tunnels/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } })
    assert.equal(del.statusCode, 204)
    await del.body.text()
    const code = await agent.exited
    assert.notEqual(code, 0, 'the revoked agent stops instead of reconnecting')
    assert.ok(
      agent.lines.some((l) => l.includes('revoked')),
      agent.lines.join('\n'),
    )
    const gone = await get(`${agent.publicUrl}echo`)
    assert.equal(gone.status, 410)
    assert.equal(gone.headers['x-adit-error'], 'ADIT_ERR_TUNNEL_REVOKED')
    assert.equal(await wsStatus(`${server.url.replace('http:', 'ws:')}/ws?id=${id}`, secret), 401)
    assert.equal((await get(`${other.publicUrl}echo`)).status, 200, 'the other tunnel is unaffected')
    // The operator's admin token deletes any tunnel.
    assert.equal(
      (await request(`${server.url}/tunnels/${otherState.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } })).statusCode,
      204,
    )
    await other.exited
  })

  it('TUNNEL_IDLE_TTL: a tunnel with no agent expires (410); one with a connected agent stays', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(track(await startServerProcess({ env: { TUNNEL_IDLE_TTL: '1s' } })))
    const reg = await request(`${server.url}/register`, { method: 'POST' })
    const idle = (await reg.body.json()) as { id: string; secret: string; public_url: string }
    secrets.add(idle.secret)
    const dir = jobs.add(tempDir())
    const agent = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json') })))
    stateOf(dir.file('s.json'))
    assert.equal((await get(`${idle.public_url}x`)).status, 502)
    await until(async () => (await get(`${idle.public_url}x`)).status === 410, 6000, 'the idle tunnel to expire')
    // Log lines leave in batches (flushed within 100 ms): wait for the line rather than race it.
    await until(async () => server.lines.some((l) => l.includes('tunnel expired') && l.includes(idle.id)), 2000, 'the expiry to be logged')
    assert.equal((await get(`${agent.publicUrl}echo`)).status, 200, 'a tunnel with its agent connected is never expired')
  })

  it('signing-key rotation: a connected agent survives a restart with keys [new, old]; new tunnels use the new key', async () => {
    const service = jobs.add(await startLocalService())
    const oldKey = randomBytes(32).toString('base64')
    const newKey = randomBytes(32).toString('base64')
    secrets.add(oldKey)
    secrets.add(newKey)
    // One data directory for every server here: a server only accepts tunnels it has a record of.
    const data = jobs.add(tempDir('adit-data-'))
    const first = jobs.add(track(await startServerProcess({ env: { ADIT_SIGNING_KEY: oldKey, ADIT_DATA_DIR: data.path } })))
    const dir = jobs.add(tempDir())
    const agent = jobs.add(track(await startAgentProcess(first.url, service.url, { stateFile: dir.file('s.json') })))
    const before = stateOf(dir.file('s.json'))
    assert.equal((await get(`${agent.publicUrl}echo`)).status, 200)
    await first.stop('SIGTERM')
    const second = jobs.add(track(await startServerProcess({ env: { ADIT_SIGNING_KEY: `${newKey},${oldKey}`, ADIT_DATA_DIR: data.path }, port: first.port })))
    await until(
      async () => (await get(`${agent.publicUrl}echo`).catch(() => ({ status: 0 }))).status === 200,
      15_000,
      'the agent to reconnect under [new, old]',
    )
    assert.ok(!agent.lines.some((l) => l.includes('"reregistered":true')), 'the agent kept its tunnel: no re-registration')
    assert.deepEqual(stateOf(dir.file('s.json')), before)
    const fresh = (await (await request(`${second.url}/register`, { method: 'POST' })).body.json()) as { id: string; secret: string }
    secrets.add(fresh.secret)
    // Only the new key made it: the same store under the new key alone accepts it, under the old key alone it does not.
    await agent.stop('SIGKILL')
    await second.stop('SIGKILL')
    const onlyNew = jobs.add(track(await startServerProcess({ env: { ADIT_SIGNING_KEY: newKey, ADIT_DATA_DIR: data.path } })))
    assert.equal(await wsStatus(`${onlyNew.url.replace('http:', 'ws:')}/ws?id=${fresh.id}`, fresh.secret), 101)
    await onlyNew.stop('SIGKILL')
    const onlyOld = jobs.add(track(await startServerProcess({ env: { ADIT_SIGNING_KEY: oldKey, ADIT_DATA_DIR: data.path } })))
    assert.equal(await wsStatus(`${onlyOld.url.replace('http:', 'ws:')}/ws?id=${fresh.id}`, fresh.secret), 401)
  })

  it('access rules: --basic-auth (401 + WWW-Authenticate), --allow-ip (403; X-Forwarded-For only with --trust-proxy), --require-jwt (401); denials never reach the agent', async () => {
    const service = jobs.add(await startLocalService())
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
    const jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })))
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r))
    jobs.add({ close: () => new Promise((r) => (jwks.closeAllConnections(), jwks.close(r))) })
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`
    const server = jobs.add(track(await startServerProcess({ env: { ADIT_ALLOW_HTTP_JWKS: 'true' } })))
    const proxied = jobs.add(track(await startServerProcess({ args: ['--trust-proxy', 'true'] })))
    const dir = jobs.add(tempDir())
    const password = `pw-${randomBytes(8).toString('hex')}`
    secrets.add(password)
    const basic = jobs.add(
      track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('b.json'), args: ['--basic-auth', `alice:${password}`] })),
    )
    const denyAll = jobs.add(
      track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('d.json'), args: ['--allow-ip', '10.0.0.0/8,2001:db8::/32'] })),
    )
    const local = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('l.json'), args: ['--allow-ip', '127.0.0.1'] })))
    const behindProxy = jobs.add(
      track(await startAgentProcess(proxied.url, service.url, { stateFile: dir.file('p.json'), args: ['--allow-ip', '203.0.113.0/24'] })),
    )
    const direct = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('x.json'), args: ['--allow-ip', '203.0.113.0/24'] })))
    const jwtAgent = jobs.add(
      track(
        await startAgentProcess(server.url, service.url, {
          stateFile: dir.file('j.json'),
          args: ['--require-jwt', `issuer=https://issuer.test,audience=app,jwks=${jwksUrl}`],
        }),
      ),
    )
    for (const f of ['b.json', 'd.json', 'l.json', 'p.json', 'x.json', 'j.json']) stateOf(dir.file(f))
    const seen = (): number => service.requests.length
    const start = seen()

    const noAuth = await get(`${basic.publicUrl}echo`)
    assert.equal(noAuth.status, 401)
    assert.equal(noAuth.headers['x-adit-error'], 'ADIT_ERR_AUTH_REQUIRED')
    assert.match(String(noAuth.headers['www-authenticate']), /^Basic realm=/)
    const auth = (cred: string) => ({ authorization: `Basic ${Buffer.from(cred).toString('base64')}` })
    assert.equal((await get(`${basic.publicUrl}echo`, auth('alice:nope'))).status, 401)
    assert.equal((await get(`${basic.publicUrl}echo`, auth(`bob:${password}`))).status, 401)
    assert.equal((await get(`${denyAll.publicUrl}echo`)).status, 403)
    assert.equal((await get(`${denyAll.publicUrl}echo`)).headers['x-adit-error'], 'ADIT_ERR_IP_NOT_ALLOWED')
    assert.equal(
      (await httpGet(`${direct.publicUrl}echo`, { 'x-forwarded-for': '203.0.113.5' })).status,
      403,
      'X-Forwarded-For is ignored without --trust-proxy',
    )
    assert.equal(
      (await httpGet(`${behindProxy.publicUrl}echo`, { 'x-forwarded-for': '203.0.113.5, 198.51.100.1' })).status,
      403,
      'only the entry the proxy appended counts',
    )
    const noJwt = await get(`${jwtAgent.publicUrl}echo`)
    assert.equal(noJwt.status, 401)
    assert.match(String(noJwt.headers['www-authenticate']), /^Bearer/)
    const sign = (aud: string) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://issuer.test').setAudience(aud).setExpirationTime('5m').sign(privateKey)
    assert.equal((await get(`${jwtAgent.publicUrl}echo`, { authorization: `Bearer ${await sign('other')}` })).status, 401)
    // WebSocket upgrades through the tunnel pass the same gate.
    const wsDenied = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${basic.publicUrl.replace('http:', 'ws:')}socket`)
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
    assert.equal(wsDenied, 401, 'a WebSocket upgrade without credentials is refused too')
    assert.equal(seen(), start, 'no denied request reached a local service')

    const ok = await get(`${basic.publicUrl}echo`, auth(`alice:${password}`))
    assert.equal(ok.status, 200)
    assert.equal(
      (JSON.parse(ok.body) as { headers: Record<string, string> }).headers.authorization,
      undefined,
      "the tunnel's credentials are not passed to the service",
    )
    assert.equal((await get(`${local.publicUrl}echo`)).status, 200)
    assert.equal((await httpGet(`${behindProxy.publicUrl}echo`, { 'x-forwarded-for': '198.51.100.1, 203.0.113.5' })).status, 200)
    assert.equal((await get(`${jwtAgent.publicUrl}echo`, { authorization: `Bearer ${await sign('app')}` })).status, 200)
    assert.equal(seen(), start + 4)
    const stored = server.lines.join('\n')
    assert.ok(!stored.includes(password))
  })

  it('limits: streams in flight per tunnel (429 + Retry-After) and request rate per tunnel (429); other tunnels unaffected', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(
      track(await startServerProcess({ env: { ADIT_MAX_STREAMS_PER_TUNNEL: '2', ADIT_TUNNEL_RATE: '20/s' }, args: ['--response-timeout', '5s'] })),
    )
    const dir = jobs.add(tempDir())
    const a = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('a.json') })))
    const b = jobs.add(track(await startAgentProcess(server.url, service.url, { stateFile: dir.file('b.json') })))
    stateOf(dir.file('a.json'))
    stateOf(dir.file('b.json'))
    const controller = new AbortController()
    const slow = [
      request(`${a.publicUrl}slow`, { signal: controller.signal }).catch(() => null),
      request(`${a.publicUrl}slow`, { signal: controller.signal }).catch(() => null),
    ]
    await until(async () => service.requests.filter((r) => r.url === '/slow').length === 2, 5000, 'two slow requests in flight')
    const third = await get(`${a.publicUrl}echo`)
    assert.equal(third.status, 429)
    assert.equal(third.headers['x-adit-error'], 'ADIT_ERR_TOO_MANY_STREAMS')
    assert.equal(third.headers['retry-after'], '1')
    assert.equal((await get(`${b.publicUrl}echo`)).status, 200, 'another tunnel is unaffected')
    controller.abort()
    await Promise.all(slow)
    await until(async () => (await get(`${a.publicUrl}echo`)).status === 200, 5000, 'the slots to be freed')

    const statuses: number[] = []
    for (let i = 0; i < 40; i++) statuses.push((await get(`${b.publicUrl}echo`)).status)
    const limited = statuses.filter((s) => s === 429).length
    assert.ok(limited > 0, `some requests over 20/s were limited: ${statuses.join(',')}`)
    assert.ok(statuses.every((s) => s === 200 || s === 429))
    const other = await get(`${a.publicUrl}echo`)
    assert.equal(other.status, 200, "one tunnel's rate limit is its own")
  })

  it('no secret, password, signing key or admin token appears in any line the servers and agents printed', () => {
    assert.ok(secrets.size >= 10, `collected ${secrets.size} secrets`)
    assert.ok(spawned.length >= 10)
    let lines = 0
    for (const p of spawned) {
      lines += p.lines.length
      for (const line of p.lines) for (const secret of secrets) assert.ok(!line.includes(secret), `pid ${p.pid} logged a secret: ${line}`)
    }
    assert.ok(lines > 50, `read ${lines} lines`)
  })
})
