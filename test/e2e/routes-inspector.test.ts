import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
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
    service = await startLocalService()
    server = await startServerProcess()
    tunnel = await connect({
      server: server.url,
      stateFile: null,
      observer: log,
      routes: [
        { path: '/hooks', local: service.url, webhook: { provider: 'github', secret: 'inspector-secret' } },
        { path: '/old', status: 410 },
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
})
