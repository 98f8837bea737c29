import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { startServer, type RunningServer } from '../../src/server/server.js'
import { connect, type Tunnel } from '../../src/agent/tunnel.js'
import { createLogger } from '../../src/observability/logger.js'
import { AgentMetrics } from '../../src/observability/metrics.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { captureLog, parseMetrics } from '../harness/log-capture.js'

const TOKEN = 'metrics-token-0123456789'

describe('metrics and trace propagation (in-process server and agent)', () => {
  let service: LocalService
  let server: RunningServer
  let tunnel: Tunnel
  let agentMetrics: AgentMetrics
  const log = captureLog()

  before(async () => {
    service = await startLocalService()
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      metricsToken: TOKEN,
      traceProject: 'my-project',
      logger: createLogger({ destination: log, format: 'json' }),
    })
    tunnel = await connect({ server: server.url, local: service.url, stateFile: null, connections: 1 })
    agentMetrics = new AgentMetrics(tunnel, tunnel, { processMetrics: false })
  })
  after(async () => {
    agentMetrics?.close()
    await tunnel?.close()
    await server?.close()
    await service?.close()
  })

  const scrape = async (): Promise<Map<string, number>> => {
    const res = await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/plain/)
    return parseMetrics(await res.body.text())
  }

  it('refuses /metrics without the token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }]) {
      const res = await request(`${server.url}/metrics`, { headers })
      assert.equal(res.statusCode, 401)
      await res.body.dump()
    }
  })

  it('counts a known number of requests, bytes and statuses', async () => {
    const before = await scrape()
    const id = tunnel.id
    const okKey = `adit_requests_total{tunnel="${id}",status="200"}`
    const notFoundKey = `adit_requests_total{tunnel="${id}",status="404"}`
    const ok = 5
    const missing = 3
    const body = 'x'.repeat(1000)
    for (let i = 0; i < ok; i++) {
      const res = await request(`${tunnel.publicUrl}echo`, { method: 'POST', body })
      assert.equal(res.statusCode, 200)
      await res.body.dump()
    }
    for (let i = 0; i < missing; i++) {
      const res = await request(`${tunnel.publicUrl}status/404`)
      assert.equal(res.statusCode, 404)
      await res.body.dump()
    }
    const after = await scrape()
    const delta = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0)
    assert.equal(delta(okKey), ok)
    assert.equal(delta(notFoundKey), missing)
    assert.equal(delta(`adit_request_bytes_total{tunnel="${id}"}`), ok * body.length)
    assert.equal(delta('adit_request_duration_seconds_count{status_class="2xx"}'), ok)
    assert.equal(delta('adit_request_duration_seconds_count{status_class="4xx"}'), missing)
    assert.ok(delta(`adit_response_bytes_total{tunnel="${id}"}`) > 0)
    assert.equal(after.get('adit_tunnels_active'), 1)
    assert.equal(after.get('adit_agent_connections'), 1)
    assert.equal(after.get('adit_streams_active'), 0)
    assert.equal(after.get(`adit_agent_connections_opened_total{tunnel="${id}"}`), 1)
    assert.equal(after.get('adit_flow_control_stalls_total'), before.get('adit_flow_control_stalls_total') ?? 0)

    const agent = parseMetrics((await agentMetrics.render()).body)
    assert.equal(agent.get('adit_agent_requests_total{status="200"}'), ok)
    assert.equal(agent.get('adit_agent_requests_total{status="404"}'), missing)
    assert.equal(agent.get('adit_agent_request_bytes_total'), ok * body.length)
    assert.equal(agent.get('adit_agent_server_connections'), 1)
    assert.equal(agent.get('adit_agent_server_connections_opened_total'), 1)
  })

  it('counts 502s for a tunnel whose agent is gone under its own id, not another; a made-up id under unknown', async () => {
    const gone = await connect({ server: server.url, local: service.url, stateFile: null, connections: 1 })
    const id = gone.id
    await gone.close()
    const res = await request(`${server.url}/pub/${id}/x`)
    await res.body.dump()
    const madeUp = await request(`${server.url}/pub/aaaaaaaaaaaaaaaa/x`)
    await madeUp.body.dump()
    const m = await scrape()
    assert.equal(m.get(`adit_requests_total{tunnel="${id}",status="${res.statusCode}"}`), 1)
    assert.equal(m.get(`adit_requests_total{tunnel="aaaaaaaaaaaaaaaa",status="${madeUp.statusCode}"}`), undefined)
    assert.equal(m.get(`adit_requests_total{tunnel="unknown",status="${madeUp.statusCode}"}`), 1)
  })

  it("hands the public request's traceparent to the local service unchanged (no SDK registered)", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const res = await request(`${tunnel.publicUrl}echo/traced`, { headers: { traceparent } })
    const echo = (await res.body.json()) as { headers: Record<string, string> }
    assert.equal(echo.headers.traceparent, traceparent)
    const line = log.lines.find((l) => l.message === 'proxied' && (l.path as string) === '/echo/traced')
    assert.ok(line, 'an access line for the request')
    assert.equal(line['logging.googleapis.com/trace'], 'projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736')
    assert.equal(line['logging.googleapis.com/trace_sampled'], true)
  })

  it('starts a trace when the request has none: the service and the access log share its id', async () => {
    const res = await request(`${tunnel.publicUrl}echo/untraced`, { headers: { 'user-agent': 'adit-test/1' } })
    const echo = (await res.body.json()) as { headers: Record<string, string> }
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(echo.headers.traceparent ?? '')
    assert.ok(match, `the service got a traceparent: ${echo.headers.traceparent}`)
    const line = log.lines.find((l) => l.message === 'proxied' && l.path === '/echo/untraced')
    assert.equal(line?.['logging.googleapis.com/trace'], `projects/my-project/traces/${match[1]}`)
    assert.equal(line?.['logging.googleapis.com/spanId'], match[2])
  })

  it("turns Cloud Run's X-Cloud-Trace-Context into a traceparent with the same trace id", async () => {
    const res = await request(`${tunnel.publicUrl}echo/cloud`, { headers: { 'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=1' } })
    const echo = (await res.body.json()) as { headers: Record<string, string> }
    assert.equal(echo.headers.traceparent, '00-105445aa7843bc8bf206b12000100000-0000000000000001-01')
  })

  it('writes the access line with Cloud Logging httpRequest fields', () => {
    const line = log.lines.find((l) => l.message === 'proxied' && l.path === '/echo/untraced')!
    const http = line.httpRequest as Record<string, unknown>
    assert.equal(line.severity, 'INFO')
    assert.equal(http.requestMethod, 'GET')
    assert.equal(http.requestUrl, `${tunnel.publicUrl}echo/untraced`)
    assert.equal(http.status, 200)
    assert.equal(http.requestSize, '0')
    assert.match(String(http.responseSize), /^[1-9]\d*$/)
    assert.match(String(http.latency), /^\d+\.\d{3}s$/)
    assert.equal(http.remoteIp, '127.0.0.1')
    assert.equal(http.userAgent, 'adit-test/1')
    assert.equal(line.tunnel, tunnel.id)
    assert.match(String(line.requestId), /^[\w-]{9,24}$/)
  })
})
