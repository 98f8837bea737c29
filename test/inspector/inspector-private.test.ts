import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { startInspector, type Inspector } from '../../src/inspector/inspector-server.js'
import { RequestLog } from '../../src/inspector/request-log.js'
import { feedExchange } from './feed.js'
import { httpRequest } from './http-client.js'

/**
 * The inspector is private (issue 11, finding 6): a per-run token (printed in
 * its URL, like Jupyter's) guards every API route, and the Origin must be the
 * inspector's own, exactly — a page on another loopback port is another origin.
 */

interface ErrorBody {
  error: { code: string; message: string }
}

const TOKEN_HEADER = 'x-adit-inspector-token'

async function start(t: TestContext): Promise<{ inspector: Inspector; log: RequestLog; base: string; replays: () => number }> {
  const log = new RequestLog()
  let replays = 0
  const inspector = await startInspector({
    port: 0,
    log,
    replay: async () => {
      replays++
      return { status: 200, headers: [], body: Buffer.alloc(0), durationMs: 1 }
    },
  })
  t.after(() => inspector.close())
  feedExchange(log, { id: 'a', method: 'GET', path: '/secret-page', status: 200, headers: [['authorization', 'Bearer user-credential']] })
  const base = `http://127.0.0.1:${inspector.port}`
  return { inspector, log, base, replays: () => replays }
}

test('the inspector URL carries a per-run token; without it the API answers 401 and shows nothing', async (t) => {
  const { inspector, base } = await start(t)
  const url = new URL(inspector.url)
  const token = url.searchParams.get('token')
  assert.ok(token !== null && token.length >= 32, `the printed URL carries a long token: ${inspector.url}`)
  const other = await startInspector({ port: 0, log: new RequestLog() })
  t.after(() => other.close())
  assert.notEqual(new URL(other.url).searchParams.get('token'), token, 'a token per run')

  for (const path of ['/api/requests', '/api/requests/1', '/api/requests.har', '/api/info', '/api/events']) {
    for (const headers of [{ [TOKEN_HEADER]: '' }, { [TOKEN_HEADER]: `${token}x` }, { authorization: 'Bearer nope' }] as Array<Record<string, string>>) {
      const res = await httpRequest(`${base}${path}`, { headers })
      assert.equal(res.status, 401, `${path} with ${JSON.stringify(headers)}`)
      assert.equal(res.json<ErrorBody>().error.code, 'ADIT_ERR_INSPECTOR_TOKEN')
      assert.ok(!res.text.includes('user-credential') && !res.text.includes('secret-page'), 'nothing of the traffic is shown')
    }
  }
  const page = await httpRequest(`${base}/`, { headers: { [TOKEN_HEADER]: '' } })
  assert.equal(page.status, 401, 'the page without the token says what to do')
  assert.match(page.text, /token/)

  const ok = await httpRequest(`${base}/api/requests`, { headers: { [TOKEN_HEADER]: token } })
  assert.equal(ok.status, 200)
  const bearer = await httpRequest(`${base}/api/requests`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(bearer.status, 200)
})

test('opening the URL with ?token= sets an HttpOnly SameSite=Strict cookie and drops the token from the address', async (t) => {
  const { inspector, base } = await start(t)
  const token = new URL(inspector.url).searchParams.get('token')!
  const open = await httpRequest(`${base}/?token=${token}`, { headers: { [TOKEN_HEADER]: '' } })
  assert.equal(open.status, 303)
  assert.equal(open.headers.location, '/')
  const cookie = String(open.headers['set-cookie'])
  assert.match(cookie, /HttpOnly/)
  assert.match(cookie, /SameSite=Strict/)
  assert.ok(!cookie.includes(token), 'the cookie is not the token')
  const pair = cookie.split(';')[0]!
  const page = await httpRequest(`${base}/`, { headers: { cookie: pair, [TOKEN_HEADER]: '' } })
  assert.equal(page.status, 200)
  const api = await httpRequest(`${base}/api/requests`, { headers: { cookie: pair, [TOKEN_HEADER]: '' } })
  assert.equal(api.status, 200)
  const wrong = await httpRequest(`${base}/?token=${token.slice(1)}`, { headers: { [TOKEN_HEADER]: '' } })
  assert.equal(wrong.status, 401)
})

test('only the exact origin of its own page: another loopback port, another name or same-site fetches are refused', async (t) => {
  const { inspector, log, base, replays } = await start(t)
  const token = new URL(inspector.url).searchParams.get('token')!
  const auth = { [TOKEN_HEADER]: token }
  for (const origin of [`http://127.0.0.1:${inspector.port + 1}`, `http://localhost:${inspector.port}`, 'http://127.0.0.1', 'null']) {
    const replay = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', headers: { ...auth, origin } })
    assert.equal(replay.status, 403, `replay from ${origin}`)
    assert.equal(replay.json<ErrorBody>().error.code, 'ADIT_ERR_INSPECTOR_ORIGIN')
    const read = await httpRequest(`${base}/api/requests`, { headers: { ...auth, origin } })
    assert.equal(read.status, 403, `read from ${origin}`)
  }
  for (const site of ['same-site', 'cross-site']) {
    const res = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', headers: { ...auth, 'sec-fetch-site': site } })
    assert.equal(res.status, 403, `Sec-Fetch-Site: ${site}`)
  }
  assert.equal(replays(), 0, 'no replay ran')
  assert.equal(log.size, 1)
  const own = await httpRequest(`${base}/api/requests/1/replay`, { method: 'POST', headers: { ...auth, origin: base, 'sec-fetch-site': 'same-origin' } })
  assert.equal(own.status, 201, 'its own page may replay')
  assert.equal(replays(), 1)
})
