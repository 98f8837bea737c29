import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { startServer, type RunningServer } from '../../src/server/server.js'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
import { silentLogger } from '../../src/observability/logger.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'

/** Distinct `tunnel` label values of one metric in an exposition text. */
function tunnelLabels(text: string, metric: string): Set<string> {
  const labels = new Set<string>()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue
    const match = /tunnel="([^"]*)"/.exec(line)
    if (match) labels.add(match[1]!)
  }
  return labels
}

describe('/metrics labels only tunnels that exist (issue 11, finding 6)', () => {
  let service: LocalService
  let server: RunningServer
  let tunnel: Tunnel

  before(async () => {
    service = await startLocalService()
    server = await startServer({ host: '127.0.0.1', port: 0, logger: silentLogger() })
    tunnel = await connect({ server: server.url, local: service.url, stateFile: null, connections: 1 })
  })
  after(async () => {
    await tunnel?.close()
    await server?.close()
    await service?.close()
  })

  it('300 made-up tunnel ids get no label set of their own; the real tunnel keeps its id', async () => {
    const real = await request(`${tunnel.publicUrl}hello`)
    await real.body.dump()
    assert.equal(real.statusCode, 200)
    for (let i = 0; i < 300; i++) {
      const res = await request(`${server.url}/pub/made-up-${randomBytes(4).toString('hex')}/`)
      await res.body.dump()
      assert.equal(res.statusCode, 404)
    }
    const scrape = await request(`${server.url}/metrics`)
    const text = await scrape.body.text()
    const labels = tunnelLabels(text, 'adit_requests_total')
    assert.ok(labels.has(tunnel.id), 'the real tunnel is labelled by its id')
    assert.deepEqual([...labels].sort(), [tunnel.id, 'unknown'].sort(), `made-up ids share one label, got ${labels.size} labels`)
  })
})
