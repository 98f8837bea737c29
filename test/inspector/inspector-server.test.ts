import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { InspectorErrorCode } from '../../src/inspector/errors.js'
import { startInspector, type ExchangeDetail, type Inspector, type InspectorOptions } from '../../src/inspector/inspector-server.js'
import type { ReplayRequest } from '../../src/inspector/replay.js'
import { RequestLog, type ExchangeSummary } from '../../src/inspector/request-log.js'
import { feedExchange } from './feed.js'
import { EventReader, httpRequest, useInspectorToken } from './http-client.js'

interface ErrorBody {
  error: { code: string; message: string }
}

async function start(t: TestContext, options: Partial<InspectorOptions> = {}): Promise<{ inspector: Inspector; log: RequestLog; base: string }> {
  const log = options.log ?? new RequestLog()
  const inspector = await startInspector({ port: 0, ...options, log })
  t.after(() => inspector.close())
  useInspectorToken(inspector)
  return { inspector, log, base: inspector.baseUrl.replace(/\/$/, '') }
}

function seed(log: RequestLog): void {
  feedExchange(log, {
    id: 'a',
    method: 'GET',
    path: '/users?page=2',
    status: 200,
    responseHeaders: [['content-type', 'application/json']],
    responseBody: Buffer.from('{"users":[]}'),
  })
  feedExchange(log, {
    id: 'b',
    method: 'POST',
    path: '/upload',
    headers: [
      ['content-type', 'application/octet-stream'],
      ['content-length', '4'],
      ['authorization', 'Bearer tok'],
    ],
    requestBody: Buffer.from([0, 1, 2, 255]),
    status: 201,
  })
  feedExchange(log, { id: 'c', method: 'GET', path: '/missing', status: 404 })
}

test('GET /api/requests lists rows newest first and filters by status, method and text', async (t) => {
  const { log, base } = await start(t)
  seed(log)
  const all = (await httpRequest(`${base}/api/requests`)).json<{ requests: ExchangeSummary[]; total: number }>()
  assert.deepEqual(
    all.requests.map((r) => r.path),
    ['/missing', '/upload', '/users?page=2'],
  )
  assert.equal(all.total, 3)
  const paths = async (query: string): Promise<string[]> =>
    (await httpRequest(`${base}/api/requests?${query}`)).json<{ requests: ExchangeSummary[] }>().requests.map((r) => r.path)
  assert.deepEqual(await paths('status=4xx'), ['/missing'])
  assert.deepEqual(await paths('method=post'), ['/upload'])
  assert.deepEqual(await paths('q=USERS'), ['/users?page=2'])
  assert.deepEqual(await paths('status=2xx&method=GET'), ['/users?page=2'])
})

test('GET /api/requests/:id gives headers and bodies: text as text, binary as base64', async (t) => {
  const { log, base } = await start(t)
  seed(log)
  const json = (await httpRequest(`${base}/api/requests/1`)).json<ExchangeDetail>()
  assert.equal(json.responseBody.encoding, 'utf8')
  assert.equal(json.responseBody.data, '{"users":[]}')
  assert.equal(json.responseBody.contentType, 'application/json')
  const binary = (await httpRequest(`${base}/api/requests/2`)).json<ExchangeDetail>()
  assert.equal(binary.requestBody.encoding, 'base64')
  assert.equal(binary.requestBody.data, Buffer.from([0, 1, 2, 255]).toString('base64'))
  assert.deepEqual(binary.requestHeaders[2], ['authorization', 'Bearer tok'])
  for (const id of ['999', '%E0%A4%A']) {
    const missing = await httpRequest(`${base}/api/requests/${id}`)
    assert.equal(missing.status, 404)
    assert.equal(missing.json<ErrorBody>().error.code, InspectorErrorCode.NOT_FOUND)
  }
})

test('POST replay sends the original again and records the answer as a new row', async (t) => {
  const sent: ReplayRequest[] = []
  const { log, base } = await start(t, {
    replay: async (request) => {
      sent.push(request)
      return { status: 202, headers: [['content-type', 'text/plain']], body: Buffer.from('again'), durationMs: 4 }
    },
  })
  seed(log)
  const reply = await httpRequest(`${base}/api/requests/2/replay`, { method: 'POST' })
  assert.equal(reply.status, 201)
  const detail = reply.json<ExchangeDetail>()
  assert.equal(detail.id, '4')
  assert.equal(detail.replayOf, '2')
  assert.equal(detail.status, 202)
  assert.equal(detail.responseBody.data, 'again')
  assert.equal(sent.length, 1)
  assert.equal(sent[0]?.method, 'POST')
  assert.equal(sent[0]?.path, '/upload')
  assert.deepEqual([...(sent[0]?.body ?? [])], [0, 1, 2, 255])
  // Framing headers describe the old connection; the sender sets its own.
  assert.ok(!sent[0]?.headers.some(([name]) => name === 'content-length'))
  assert.equal(log.size, 4)
})

test('POST replay with edits changes method, path, headers and body', async (t) => {
  const sent: ReplayRequest[] = []
  const { log, base } = await start(t, {
    replay: async (request) => {
      sent.push(request)
      return { status: 200, headers: [], body: Buffer.alloc(0), durationMs: 1 }
    },
  })
  seed(log)
  const edits = { method: 'put', path: '/users/7', headers: { 'x-edited': 'yes' }, body: '{"name":"x"}' }
  const reply = await httpRequest(`${base}/api/requests/1/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(edits),
  })
  assert.equal(reply.status, 201)
  // The original's tunnel goes along, so an agent with several tunnels replays through the right one.
  assert.deepEqual(sent[0], { method: 'PUT', path: '/users/7', headers: [['x-edited', 'yes']], body: Buffer.from('{"name":"x"}'), tunnelId: 'tunnel-test' })
  const base64 = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', body: JSON.stringify({ body: 'AAH/', bodyEncoding: 'base64' }) })
  assert.equal(base64.status, 201)
  assert.deepEqual([...(sent[1]?.body ?? [])], [0, 1, 255])
})

test('POST replay refuses bad edits, oversized edits, incomplete bodies and a missing replay function', async (t) => {
  const { log, base } = await start(t, {
    log: new RequestLog({ maxBodyBytes: 4, maxTotalBodyBytes: 1024 }),
    maxEditBytes: 64,
    replay: async () => ({ status: 200, headers: [], body: Buffer.alloc(0), durationMs: 1 }),
  })
  feedExchange(log, { id: 'big', method: 'POST', requestBody: Buffer.from('more than four bytes') })
  const code = async (body: string): Promise<[number, string]> => {
    const reply = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', body })
    return [reply.status, reply.json<ErrorBody>().error.code]
  }
  assert.deepEqual(await code(''), [409, InspectorErrorCode.BODY_INCOMPLETE])
  assert.deepEqual(await code('{not json'), [400, InspectorErrorCode.BAD_EDIT])
  assert.deepEqual(await code('{"path":"no-slash"}'), [400, InspectorErrorCode.BAD_EDIT])
  assert.deepEqual(await code('{"headers":[["bad name","x"]]}'), [400, InspectorErrorCode.BAD_EDIT])
  assert.deepEqual(await code(JSON.stringify({ body: 'x'.repeat(100) })), [413, InspectorErrorCode.EDIT_TOO_LARGE])
  // With a replacement body the truncated original is fine to replay.
  const ok = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', body: '{"body":"short"}' })
  assert.equal(ok.status, 201)

  const bare = await start(t)
  feedExchange(bare.log, { id: 'x' })
  const unavailable = await httpRequest(`${bare.base}/api/requests/1/replay`, { method: 'POST' })
  assert.equal(unavailable.status, 501)
  assert.equal(unavailable.json<ErrorBody>().error.code, InspectorErrorCode.REPLAY_UNAVAILABLE)
})

test('POST replay reports a failing replay function as REPLAY_FAILED', async (t) => {
  const { log, base } = await start(t, { replay: () => Promise.reject(new Error('ECONNREFUSED')) })
  seed(log)
  const reply = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST' })
  assert.equal(reply.status, 502)
  assert.equal(reply.json<ErrorBody>().error.code, InspectorErrorCode.REPLAY_FAILED)
  assert.equal(log.size, 3)
})

test('replayIsObserved: a replay the agent recorded itself is marked, not recorded twice', async (t) => {
  const log = new RequestLog()
  const { base } = await start(t, {
    log,
    replayIsObserved: true,
    replay: async (request) => {
      // What the agent's forwarder does: the replay goes through the observer like any exchange.
      feedExchange(log, { id: 'agent-replay-1', method: request.method, path: request.path, status: 200, responseBody: Buffer.from('fresh') })
      return { status: 200, headers: [], body: Buffer.from('fresh'), durationMs: 2, exchangeId: 'agent-replay-1' }
    },
  })
  seed(log)
  const detail = (await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST' })).json<ExchangeDetail>()
  assert.equal(detail.exchangeId, 'agent-replay-1')
  assert.equal(detail.replayOf, '1')
  assert.equal(log.size, 4)
})

test('GET /api/requests.har redacts credentials and configured headers unless ?redact=false', async (t) => {
  const { log, base } = await start(t, { redactHeaders: ['X-Api-Key'] })
  feedExchange(log, {
    id: 'h',
    headers: [
      ['authorization', 'Bearer tok'],
      ['x-api-key', 'key-1'],
      ['accept', '*/*'],
    ],
    responseHeaders: [['set-cookie', 'a=b']],
  })
  const reply = await httpRequest(`${base}/api/requests.har`)
  assert.equal(reply.status, 200)
  assert.match(String(reply.headers['content-disposition']), /attachment; filename="adit-.*\.har"/)
  for (const secret of ['Bearer tok', 'key-1', 'a=b']) assert.ok(!reply.text.includes(secret), `${secret} leaked`)
  const har = reply.json<{ log: { version: string; entries: Array<{ request: { url: string; headers: Array<{ name: string; value: string }> } }> } }>()
  assert.equal(har.log.version, '1.2')
  assert.equal(har.log.entries[0]?.request.url, 'http://localhost/')
  assert.deepEqual(
    har.log.entries[0]?.request.headers.find((h) => h.name === 'accept'),
    { name: 'accept', value: '*/*' },
  )
  const raw = await httpRequest(`${base}/api/requests.har?redact=false`)
  assert.ok(raw.text.includes('Bearer tok'))
})

test('GET /api/events streams added and updated rows as they happen', async (t) => {
  const { log, base } = await start(t)
  const events = new EventReader(`${base}/api/events`)
  t.after(() => events.close())
  await events.opened
  feedExchange(log, { id: 'live-1', path: '/live', inFlight: true })
  const added = JSON.parse((await events.next('added')).data) as ExchangeSummary
  assert.equal(added.path, '/live')
  assert.equal(added.state, 'pending')
  log.onResponse('live-1', 204, [])
  log.onEnd({ id: 'live-1', status: 204, responseHeaders: [], requestBytes: 0, responseBytes: 0, durationMs: 9 })
  assert.equal(JSON.parse((await events.next('updated')).data).state, 'responding')
  const done = JSON.parse((await events.next('updated')).data) as ExchangeSummary
  assert.equal(done.state, 'complete')
  assert.equal(done.status, 204)
})

test('close() ends open event streams and stops listening', async (t) => {
  const { inspector, base } = await start(t)
  const events = new EventReader(`${base}/api/events`)
  t.after(() => events.close())
  await events.opened
  await inspector.close()
  await events.ended()
  await assert.rejects(httpRequest(`${base}/api/requests`), (error: { code?: string }) => error.code === 'ECONNREFUSED')
})

test('refuses a Host that is not loopback (DNS rebinding) and cross-site changes', async (t) => {
  const { log, inspector, base } = await start(t, { replay: async () => ({ status: 200, headers: [], body: Buffer.alloc(0), durationMs: 1 }) })
  seed(log)
  const rebound = await httpRequest(`${base}/api/requests`, { headers: { host: `attacker.example:${inspector.port}` } })
  assert.equal(rebound.status, 403)
  assert.equal(rebound.json<ErrorBody>().error.code, InspectorErrorCode.FORBIDDEN_HOST)
  assert.equal((await httpRequest(`${base}/`, { headers: { host: 'localhost.attacker.example' } })).status, 403)
  for (const host of [`localhost:${inspector.port}`, `127.0.0.1:${inspector.port}`, `[::1]:${inspector.port}`, 'localhost']) {
    assert.equal((await httpRequest(`${base}/api/requests`, { headers: { host } })).status, 200, host)
  }
  const crossOrigin = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', headers: { origin: 'https://attacker.example' } })
  assert.equal(crossOrigin.status, 403)
  assert.equal(crossOrigin.json<ErrorBody>().error.code, InspectorErrorCode.FORBIDDEN_ORIGIN)
  const crossSite = await httpRequest(`${base}/api/requests`, { method: 'DELETE', headers: { 'sec-fetch-site': 'cross-site' } })
  assert.equal(crossSite.json<ErrorBody>().error.code, InspectorErrorCode.FORBIDDEN_ORIGIN)
  assert.equal(log.size, 3)
  const sameOrigin = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', headers: { origin: base } })
  assert.equal(sameOrigin.status, 201)
})

test('serves the page, script and style with a strict CSP, and 404s unknown routes', async (t) => {
  const { base } = await start(t)
  const page = await httpRequest(`${base}/`)
  assert.equal(page.status, 200)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/)
  assert.match(page.text, /<table id="requests"/)
  assert.match(String((await httpRequest(`${base}/ui/app.js`)).headers['content-type']), /^text\/javascript/)
  assert.match(String((await httpRequest(`${base}/ui/app.css`)).headers['content-type']), /^text\/css/)
  const none = await httpRequest(`${base}/nope`)
  assert.equal(none.status, 404)
  assert.equal(none.json<ErrorBody>().error.code, InspectorErrorCode.NO_ROUTE)
})

test('startInspector names a bad option with a stable code', async () => {
  const log = new RequestLog()
  for (const [options, name] of [
    [{}, 'log'],
    [{ log, port: 70000 }, 'port'],
    [{ log, port: 0, targetUrl: 'not a url' }, 'targetUrl'],
    [{ log, port: 0, redactHeaders: ['ok', ''] }, 'redactHeaders'],
  ] as Array<[Partial<InspectorOptions>, string]>) {
    await assert.rejects(startInspector(options), (error: { code?: string; message?: string }) => {
      assert.equal(error.code, InspectorErrorCode.BAD_OPTION)
      assert.match(error.message ?? '', new RegExp(name))
      return true
    })
  }
})
