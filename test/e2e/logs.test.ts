import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { spawnAdit, startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { parseMetrics } from '../harness/log-capture.js'

const SIGNING_KEY = 'signing-key-for-the-log-test-0123456789abcdef'
const METRICS_TOKEN = 'metrics-token-for-the-log-test'

describe('logs of real server and agent processes: Cloud Logging fields, no secrets', () => {
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess
  const dir = tempDir()

  before(async () => {
    service = await startLocalService()
    server = await startServerProcess({
      env: { ADIT_SIGNING_KEY: SIGNING_KEY, ADIT_METRICS_TOKEN: METRICS_TOKEN, GOOGLE_CLOUD_PROJECT: 'log-test-project', LOG_LEVEL: 'debug' },
    })
    agent = await startAgentProcess(server.url, service.url, {
      stateFile: dir.file('state.json'),
      args: ['--metrics-addr', '127.0.0.1:0'],
      env: { LOG_LEVEL: 'debug' },
    })
  })
  after(async () => {
    await agent?.stop()
    await server?.stop()
    await service?.close()
    dir.remove()
  })

  it('writes one access line per request with httpRequest and the trace, and never a secret', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c'
    const requests = 4
    for (let i = 0; i < requests; i++) {
      const res = await request(`${agent.publicUrl}echo/logged/${i}?secret=query-secret-value&x=1`, {
        method: 'POST',
        body: 'hello',
        headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01`, 'user-agent': 'log-test', authorization: 'Bearer header-secret-value' },
      })
      assert.equal(res.statusCode, 200)
      await res.body.dump()
    }
    const lastLine = await server.waitForLine((l) => l.includes('"message":"proxied"') && l.includes(`/echo/logged/${requests - 1}`))
    const line = JSON.parse(lastLine) as Record<string, unknown>
    const http = line.httpRequest as Record<string, string | number>
    assert.equal(line.severity, 'INFO')
    assert.equal(line.tunnel, agent.id)
    assert.match(String(line.requestId), /^[\w-]{9,24}$/)
    assert.equal(http.requestMethod, 'POST')
    assert.equal(http.status, 200)
    assert.equal(http.requestSize, '5')
    assert.match(String(http.responseSize), /^[1-9]\d*$/)
    assert.match(String(http.latency), /^\d+\.\d{3}s$/)
    assert.equal(http.remoteIp, '127.0.0.1')
    assert.equal(http.userAgent, 'log-test')
    assert.equal(http.requestUrl, `${agent.publicUrl}echo/logged/${requests - 1}?secret=[redacted]&x=1`)
    assert.equal(line['logging.googleapis.com/trace'], `projects/log-test-project/traces/${traceId}`)
    assert.equal(server.lines.filter((l) => l.includes('"message":"proxied"')).length, requests)

    const { secret } = JSON.parse(readFileSync(dir.file('state.json'), 'utf8')) as { secret: string }
    assert.ok(secret.length >= 32)
    const all = [...server.lines, ...agent.lines]
    assert.ok(all.length > 5, 'both processes logged')
    for (const forbidden of [secret, SIGNING_KEY, METRICS_TOKEN, 'query-secret-value', 'header-secret-value']) {
      const leaks = all.filter((l) => l.includes(forbidden))
      assert.deepEqual(leaks, [], `a log line contains ${forbidden === secret ? 'the tunnel secret' : forbidden}`)
    }
  })

  it("the agent's --metrics-addr counts the requests it forwarded", async () => {
    const line = await agent.waitForLine((l) => l.includes('"message":"serving metrics"'))
    const { url } = JSON.parse(line) as { url: string }
    const res = await request(url)
    const m = parseMetrics(await res.body.text())
    assert.equal(m.get('adit_agent_requests_total{status="200"}'), 4)
    assert.equal(m.get('adit_agent_request_bytes_total'), 4 * 5)
  })

  it('/metrics on the server needs the token; with it, the counts match', async () => {
    const denied = await request(`${server.url}/metrics`)
    assert.equal(denied.statusCode, 401)
    await denied.body.dump()
    const res = await request(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    const m = parseMetrics(await res.body.text())
    assert.equal(m.get(`adit_requests_total{tunnel="${agent.id}",status="200"}`), 4)
    assert.ok((m.get('adit_process_resident_memory_bytes') ?? 0) > 0)
  })

  it('--print-config redacts secrets and names each source', async () => {
    const printer = spawnAdit(['server', '--print-config', '--port', '9999'], { ADIT_SIGNING_KEY: SIGNING_KEY, ADIT_METRICS_TOKEN: METRICS_TOKEN })
    assert.equal(await printer.exited, 0)
    const text = printer.lines.join('\n')
    assert.ok(!text.includes(SIGNING_KEY) && !text.includes(METRICS_TOKEN))
    const printed = JSON.parse(text) as { settings: Record<string, { value: unknown; source: string }> }
    assert.deepEqual(printed.settings.port, { value: 9999, source: 'flag' })
    assert.deepEqual(printed.settings.signingKey, { value: '[redacted]', source: 'env' })
  })

  it('a bad setting stops start-up with ADIT_ERR_CONFIG naming it', async () => {
    const bad = spawnAdit(['server', '--port', '0'], { ADIT_RESPONSE_TIMEOUT: 'later' })
    assert.equal(await bad.exited, 2)
    assert.ok(
      bad.lines.some((l) => l.includes('ADIT_ERR_CONFIG') && l.includes('ADIT_RESPONSE_TIMEOUT')),
      bad.lines.join('\n'),
    )
  })
})
