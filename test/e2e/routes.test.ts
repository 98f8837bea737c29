import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { spawnAdit, startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess, type Spawned } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { httpGet } from '../harness/http-client.js'
import { tempDir } from '../harness/temp.js'

/** A test service that says which one it is in `x-service`. */
function taggedService(tag: string): Promise<LocalService> {
  return startLocalService((req, res) => {
    res.setHeader('x-service', tag)
    res.setHeader('x-powered-by', 'test')
    if (req.url === '/login-first') {
      // What a service that knows nothing of its mount point sends: paths from its own root.
      res.writeHead(302, { location: '/login?next=%2F', 'content-location': '/login-first', 'set-cookie': 'sid=1; Path=/; HttpOnly', 'content-length': 0 })
      res.end()
      return true
    }
    return false
  })
}

interface Echo {
  url: string
  headers: Record<string, string>
}

describe('routes: several local services behind one agent', () => {
  let api: LocalService
  let web: LocalService
  let server: ServerProcess
  let byPath: AgentProcess
  let byHost: Spawned & { id: string }
  const dir = tempDir()

  before(async () => {
    api = await taggedService('api')
    web = await taggedService('web')
    server = await startServerProcess({ args: ['--public-host-suffix', 'tunnel.test'] })
    // --route for /api, --local (the harness passes it) as the catch-all.
    byPath = await startAgentProcess(server.url, web.url, { stateFile: dir.file('path.json'), args: ['--route', `/api=${api.url}`, '--route', `/static=410`] })
    // A config file: a host route, a stripped prefix, and no catch-all (an implicit 404).
    const config = dir.file('agent.yaml')
    writeFileSync(
      config,
      [
        'routes:',
        '  - host: routed-app.tunnel.test',
        `    local: ${api.url}`,
        '  - path: /web',
        `    local: ${web.url}`,
        '    strip_prefix: true',
        '    host_header: web.internal',
        '    request_headers:',
        "      set: { X-Client: '${client_ip}', X-Seen-By: '${tunnel}' }",
        "      add: { X-Request: 'id=${request_id}' }",
        '      remove: [Cookie, X-Secret]',
        '    response_headers:',
        "      set: { X-Frame-Options: DENY, X-Service: 'web via ${tunnel}' }",
        "      add: { X-Answered: '${request_id}' }",
        '      remove: [X-Powered-By]',
        '',
      ].join('\n'),
    )
    const spawned = spawnAdit([
      'agent',
      '--server',
      server.url,
      '--config',
      config,
      '--name',
      'routed-app',
      '--json',
      '--no-inspect',
      '--state-file',
      dir.file('host.json'),
    ])
    const ready = await spawned.waitForLine((l) => l.startsWith('{"event":"ready"'))
    byHost = Object.assign(spawned, { id: (JSON.parse(ready) as { id: string }).id })
  })
  after(async () => {
    await byPath?.stop()
    await byHost?.stop()
    await server?.stop()
    await api?.close()
    await web?.close()
    dir.remove()
  })

  it('by path: /api goes to one service, the rest to the catch-all (--local), a status route answers itself', async () => {
    const toApi = await httpGet(`${server.url}/pub/${byPath.id}/api/echo?x=1`)
    assert.equal(toApi.status, 200)
    assert.equal(toApi.headers['x-service'], 'api')
    assert.equal(toApi.headers['x-powered-by'], 'test', 'no rules on this route')
    assert.equal(api.requests.at(-1)?.url, '/api/echo?x=1', 'no strip_prefix: the service sees the whole path')
    const toWeb = await httpGet(`${server.url}/pub/${byPath.id}/echo`)
    assert.equal(toWeb.headers['x-service'], 'web')
    const notApi = await httpGet(`${server.url}/pub/${byPath.id}/apix`)
    assert.equal(notApi.headers['x-service'], 'web', '/apix is not under /api')
    const apiCount = api.requests.length
    const gone = await httpGet(`${server.url}/pub/${byPath.id}/static/app.js`)
    assert.equal(gone.status, 410)
    assert.match(gone.body, /^410 Gone: answered by route 2 \(request id [^)]+\)\n$/)
    assert.equal(api.requests.length, apiCount)
    const line = await byPath.waitForLine((l) => l.includes('"path":"/static/app.js"'))
    assert.equal((JSON.parse(line) as { status: number }).status, 410)
  })

  it('header rules both ways: request headers set, added and removed with variables; response headers too', async () => {
    const res = await httpGet(`${server.url}/pub/${byHost.id}/web/echo`, { cookie: 'session=1', 'x-secret': 's', 'x-client': 'forged' })
    assert.equal(res.status, 200)
    const seen = (JSON.parse(res.body) as Echo).headers
    assert.equal(seen.cookie, undefined)
    assert.equal(seen['x-secret'], undefined)
    assert.equal(seen['x-client'], '127.0.0.1', 'set replaces what the visitor sent')
    assert.equal(seen['x-seen-by'], byHost.id)
    const requestId = seen['x-adit-request-id']!
    assert.ok(requestId)
    assert.equal(seen['x-request'], `id=${requestId}`)
    assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'adit’s own headers are untouched')
    assert.equal(res.headers['x-frame-options'], 'DENY')
    assert.equal(res.headers['x-service'], `web via ${byHost.id}`, 'set replaced the service’s header')
    assert.equal(res.headers['x-answered'], requestId)
    assert.equal(res.headers['x-powered-by'], undefined)
  })

  it('strip_prefix: a redirect and cookie path from the service are put back under the route prefix (and /pub/{id})', async () => {
    const res = await httpGet(`${server.url}/pub/${byHost.id}/web/login-first`)
    assert.equal(res.status, 302)
    assert.equal(res.headers.location, `/pub/${byHost.id}/web/login?next=%2F`)
    assert.equal(res.headers['content-location'], `/pub/${byHost.id}/web/login-first`)
    assert.deepEqual(res.headers['set-cookie'], [`sid=1; Path=/pub/${byHost.id}/web/; HttpOnly`])
    // Without strip_prefix the service sees the whole path, so its redirects are already right.
    const whole = await httpGet(`${server.url}/pub/${byPath.id}/login-first`)
    assert.equal(whole.headers.location, `/pub/${byPath.id}/login?next=%2F`)
  })

  it('by host: the tunnel host goes to its route; /pub on another host takes the path routes; no catch-all is a one-line 404', async () => {
    const viaHost = await httpGet(`${server.url}/echo`, { host: 'routed-app.tunnel.test' })
    assert.equal(viaHost.status, 200)
    assert.equal(viaHost.headers['x-service'], 'api')
    const viaPub = await httpGet(`${server.url}/pub/${byHost.id}/web/echo?y=2`)
    assert.equal(viaPub.headers['x-service'], `web via ${byHost.id}`)
    const echo = JSON.parse(viaPub.body) as Echo
    assert.equal(echo.url, '/echo?y=2', 'strip_prefix removed /web')
    assert.equal(echo.headers.host, 'web.internal', 'the route’s host_header')
    assert.equal(echo.headers['x-forwarded-prefix'], `/pub/${byHost.id}/web`)
    const before = api.requests.length + web.requests.length
    const none = await httpGet(`${server.url}/pub/${byHost.id}/elsewhere`)
    assert.equal(none.status, 404)
    assert.match(none.body, /^404 Not Found: no route for this request on this tunnel \(request id [^)]+\)\n$/)
    assert.equal(api.requests.length + web.requests.length, before, 'no service saw it')
  })
})
