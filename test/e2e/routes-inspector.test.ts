import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
import { AditError, ErrorCode } from '../../src/errors.js'
import { RequestLog } from '../../src/inspector/request-log.js'
import { describeExchange } from '../../src/inspector/inspector-server.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { startServerProcess, type ServerProcess } from '../harness/processes.js'

describe('the inspector shows the route each request took and the rule that answered it', () => {
  let service: LocalService
  let server: ServerProcess
  let tunnel: Tunnel
  const log = new RequestLog()

  before(async () => {
    service = await startLocalService((req, res) => {
      if (!req.url?.startsWith('/login-first')) return false
      res.writeHead(302, { location: '/login', 'x-powered-by': 'test', 'content-length': 0 })
      res.end()
      return true
    })
    server = await startServerProcess()
    tunnel = await connect({
      server: server.url,
      stateFile: null,
      observer: log,
      routes: [
        { path: '/hooks', local: service.url, webhook: { provider: 'github', secret: 'inspector-secret' } },
        { path: '/old', status: 410 },
        {
          path: '/ruled',
          local: service.url,
          stripPrefix: true,
          responseHeaders: { set: { 'X-Frame-Options': 'DENY' }, add: { 'X-Seen-By': '${tunnel}' }, remove: ['X-Powered-By'] },
        },
        { path: '/', local: service.url },
      ],
    })
  })
  after(async () => {
    await tunnel?.close()
    await server?.stop()
    await service?.close()
  })

  it('a forwarded request has its route; a failed webhook and a status route name the rule', async () => {
    const base = `${server.url}/pub/${tunnel.id}`
    assert.equal((await request(`${base}/page`)).statusCode, 200)
    const hook = await request(`${base}/hooks/push`, { method: 'POST', body: '{}' })
    assert.equal(hook.statusCode, 401)
    await hook.body.text()
    assert.equal((await request(`${base}/old/x`)).statusCode, 410)
    const rows = log.list({})
    const byPath = (p: string) => {
      const row = rows.find((r) => r.path === p)
      assert.ok(row, `a row for ${p}`)
      return describeExchange(log.get(row.id)!, 1024)
    }
    const origin = new URL(service.url).origin
    assert.equal(byPath('/page').route, `/ → ${origin}`)
    assert.equal(byPath('/page').answeredBy, undefined)
    assert.equal(byPath('/hooks/push').route, `/hooks → ${origin}`)
    assert.equal(byPath('/hooks/push').answeredBy, 'webhook github: webhook signature missing: no X-Hub-Signature-256 header')
    assert.equal(byPath('/hooks/push').status, 401)
    assert.equal(byPath('/old/x').answeredBy, 'route /old → 410')
  })

  it('a replay gets the response the visitor got: the route’s response rules and its prefix on Location', async () => {
    const base = `${server.url}/pub/${tunnel.id}`
    const live = await request(`${base}/ruled/login-first`)
    await live.body.text()
    assert.equal(live.statusCode, 302)
    assert.equal(live.headers['x-frame-options'], 'DENY')
    assert.equal(live.headers['x-powered-by'], undefined)
    const again = await tunnel.replay({ method: 'GET', path: '/ruled/login-first', headers: [], body: Buffer.alloc(0) })
    const header = (name: string) => again.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)
    assert.equal(again.status, 302)
    assert.deepEqual(header('x-frame-options'), ['DENY'])
    assert.deepEqual(header('x-seen-by'), [tunnel.id])
    assert.deepEqual(header('x-powered-by'), [], 'removed by the rule, as for the visitor')
    assert.deepEqual(header('location'), ['/ruled/login'], 'under the route prefix (the agent has no /pub/{id} to add)')
    assert.deepEqual(header('connection'), [], 'no hop-by-hop header')
    const record = log.list({}).find((r) => log.get(r.id)?.exchangeId === again.exchangeId)
    assert.ok(record, 'the replay is in the inspector log')
    const row = describeExchange(log.get(record.id)!, 1024)
    assert.equal(row.route, `/ruled → ${new URL(service.url).origin}`)
    assert.deepEqual(
      row.responseHeaders.filter(([n]) => n.toLowerCase() === 'x-frame-options').map(([, v]) => v),
      ['DENY'],
      'the inspector records what the replay answered',
    )
  })

  it('a replay to a webhook route is checked again: the signed delivery goes through, an edited body is refused', async () => {
    const body = Buffer.from('{"zen":"replayed"}')
    const sign = (b: Buffer) => `sha256=${createHmac('sha256', 'inspector-secret').update(b).digest('hex')}`
    const signed = await tunnel.replay({ method: 'POST', path: '/hooks/push', headers: [['X-Hub-Signature-256', sign(body)]], body })
    assert.equal(signed.status, 200)
    const seen = service.requests.length
    await assert.rejects(
      tunnel.replay({ method: 'POST', path: '/hooks/push', headers: [['X-Hub-Signature-256', sign(body)]], body: Buffer.from('{"zen":"edited"}') }),
      (error: AditError) => error.code === ErrorCode.UNAUTHORIZED && /webhook signature does not match the body; the replay was not sent/.test(error.message),
    )
    assert.equal(service.requests.length, seen, 'the edited delivery never reached the service')
  })
})
