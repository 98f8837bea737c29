/**
 * The inspector in a real browser (Debian's chromium through playwright-core):
 * rows appear live, details show bodies, replay adds a row, filters hide
 * rows; screenshots in light and dark go to test/artifacts/. The last test
 * runs the real thing: server and agent processes, a request through the
 * public URL, and the row in the agent's inspector.
 *
 * Skips, saying so, only when there is no browser binary.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { deflateSync } from 'node:zlib'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BrowserContext, Page } from 'playwright-core'
import { startInspector } from '../../src/inspector/inspector-server.js'
import { RequestLog } from '../../src/inspector/request-log.js'
import { artifacts, browserMissing, launchBrowser } from '../harness/browser.js'
import { startLocalService } from '../harness/local-service.js'
import { startAgentProcess, startServerProcess } from '../harness/processes.js'
import { feedExchange } from '../inspector/feed.js'

const missing = browserMissing('inspector browser tests')

function launch(t: TestContext): Promise<BrowserContext> {
  return launchBrowser(t, { width: 1280, height: 800 })
}

/** A 2x2 PNG, built here so the test needs no fixture file. */
function tinyPng(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf: Buffer): number => {
    let c = 0xffffffff
    for (const byte of buf) c = (crcTable[(c ^ byte) & 0xff] as number) ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const out = Buffer.alloc(8 + data.length + 4)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc(body), 8 + data.length)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(2, 0)
  header.writeUInt32BE(2, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // RGB
  const pixels = Buffer.from([0, 255, 0, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0])
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

async function waitLive(page: Page): Promise<void> {
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 5000 })
}

test('inspector UI: live rows, details, replay, filters, curl, light and dark', { skip: missing }, async (t) => {
  const log = new RequestLog()
  const inspector = await startInspector({
    port: 0,
    log,
    publicUrl: 'https://demo.example/pub/abc/',
    replay: async (request) => ({
      status: 200,
      headers: [['content-type', 'application/json']],
      body: Buffer.from(JSON.stringify({ replayed: request.path, method: request.method })),
      durationMs: 3,
    }),
  })
  t.after(() => inspector.close())
  const context = await launch(t)
  const page = await context.newPage()
  await page.goto(inspector.url)
  await waitLive(page)

  // A row appears within a second of the exchange, without a reload.
  const fedAt = Date.now()
  feedExchange(log, {
    id: 'e1',
    method: 'POST',
    path: '/api/greet?lang=en',
    headers: [
      ['content-type', 'application/json'],
      ['authorization', 'Bearer t0k'],
    ],
    requestBody: Buffer.from('{"name":"ada"}'),
    responseHeaders: [['content-type', 'application/json']],
    responseBody: Buffer.from('{"hello":"world","list":[1,2]}'),
    durationMs: 42,
  })
  await page.locator('#rows tr[data-id="1"]').waitFor({ timeout: 1000 })
  t.diagnostic(`row visible ${Date.now() - fedAt} ms after the exchange`)
  feedExchange(log, { id: 'e2', path: '/logo.png', responseHeaders: [['content-type', 'image/png']], responseBody: tinyPng() })
  feedExchange(log, {
    id: 'e3',
    path: '/blob',
    responseHeaders: [['content-type', 'application/octet-stream']],
    responseBody: Buffer.from([0, 1, 2, 0x41, 0x42, 0xff]),
  })
  feedExchange(log, { id: 'e4', method: 'DELETE', path: '/missing', status: 404 })
  await page.locator('#rows tr[data-id="4"]').waitFor({ timeout: 1000 })
  assert.equal(await page.locator('#rows tr').count(), 4)
  assert.deepEqual(await page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id') ?? undefined)), ['4', '3', '2', '1'])

  // Keyboard: focus the row, Enter opens the detail; JSON is pretty-printed.
  await page.locator('#rows tr[data-id="1"]').focus()
  await page.keyboard.press('Enter')
  await page.locator('#detail-title', { hasText: 'POST /api/greet?lang=en' }).waitFor({ timeout: 2000 })
  const bodies = await page.locator('#detail pre.body').allTextContents()
  assert.ok(bodies.includes('{\n  "hello": "world",\n  "list": [\n    1,\n    2\n  ]\n}'), `response body shown pretty: ${JSON.stringify(bodies)}`)
  assert.equal(await page.locator('#rows tr[data-id="1"]').getAttribute('aria-selected'), 'true')
  await page.screenshot({ path: join(artifacts, 'inspector-light.png'), fullPage: true })

  // Copy as curl shows the command against the public URL.
  await page.locator('#copy-curl').click()
  const curl = await page.locator('textarea.curl').inputValue()
  assert.match(curl, /^curl -X POST 'https:\/\/demo\.example\/pub\/abc\/api\/greet\?lang=en' .*--data-binary '\{"name":"ada"\}'$/)

  // Replay adds a second entry for the same request.
  await page.locator('#replay').click()
  await page.locator('#rows tr[data-id="5"]').waitFor({ timeout: 2000 })
  assert.match(await page.locator('#rows tr[data-id="5"]').innerText(), /replay of #1/)
  assert.match(await page.locator('#replay-result').innerText(), /Replayed as #5: 200/)

  // Replay with edits sends the edited path; the form stays out of the way until asked for.
  assert.equal(await page.locator('#edit-form').isVisible(), false)
  await page.locator('#replay-edit').click()
  assert.equal(await page.locator('#edit-form').isVisible(), true)
  assert.equal(await page.locator('#replay-edit').getAttribute('aria-expanded'), 'true')
  await page.locator('#edit-form input[name="path"]').fill('/api/greet?lang=fr')
  await page.locator('#edit-form button[type="submit"]').click()
  await page.locator('#rows tr[data-id="6"]').waitFor({ timeout: 2000 })
  assert.match(await page.locator('#rows tr[data-id="6"] td.path').innerText(), /\/api\/greet\?lang=fr/)

  // Images are shown, binary as a hex dump.
  await page.locator('#rows tr[data-id="2"]').click()
  const image = page.locator('#detail img.body-image')
  await image.waitFor({ timeout: 2000 })
  assert.ok(
    await page.evaluate("document.querySelector('#detail img.body-image').complete && document.querySelector('#detail img.body-image').naturalWidth === 2"),
    'the PNG decoded in the page',
  )
  await page.locator('#rows tr[data-id="3"]').click()
  await page.locator('#detail pre.hex').waitFor({ timeout: 2000 })
  assert.match(await page.locator('#detail pre.hex').innerText(), /^00000000 {2}00 01 02 41 42 ff/)

  // The filter hides and shows rows at once.
  const visibleIds = (): Promise<Array<string | undefined>> =>
    page.locator('#rows tr:not([hidden])').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id') ?? undefined))
  await page.locator('#filter-status').selectOption('4xx')
  assert.deepEqual(await visibleIds(), ['4'])
  await page.locator('#filter-status').selectOption('')
  await page.locator('#filter-q').fill('greet')
  assert.deepEqual(await visibleIds(), ['6', '5', '1'])
  await page.locator('#filter-method').selectOption('DELETE')
  assert.deepEqual(await visibleIds(), [])
  await page.locator('#filter-method').selectOption('')
  await page.locator('#filter-q').fill('')
  assert.equal((await visibleIds()).length, 6)

  // Rows updated while open: an in-flight request turns complete in place.
  feedExchange(log, { id: 'slow', path: '/slow', inFlight: true })
  await page.locator('#rows tr[data-id="7"][data-state="pending"]').waitFor({ timeout: 1000 })
  log.onResponse('slow', 200, [['content-type', 'text/plain']])
  log.onEnd({ id: 'slow', status: 200, responseHeaders: [], requestBytes: 0, responseBytes: 0, durationMs: 1500 })
  await page.locator('#rows tr[data-id="7"][data-state="complete"]').waitFor({ timeout: 1000 })

  await page.locator('#rows tr[data-id="1"]').click()
  await page.locator('#detail-title', { hasText: 'POST /api/greet?lang=en' }).waitFor({ timeout: 2000 })
  await page.emulateMedia({ colorScheme: 'dark' })
  const darkBackground = await page.evaluate('getComputedStyle(document.body).backgroundColor')
  assert.equal(darkBackground, 'rgb(13, 17, 23)')
  await page.screenshot({ path: join(artifacts, 'inspector-dark.png'), fullPage: true })
  await page.emulateMedia({ colorScheme: 'light' })
  assert.equal(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(255, 255, 255)')

  // Export HAR is a download link to the redacted export.
  assert.equal(await page.locator('#export-har').getAttribute('href'), '/api/requests.har')
})

// ---- privacy: another origin on loopback -------------------------------------------

test('a page on another loopback port cannot read or replay through the inspector, even after the user opened it', { skip: missing }, async (t) => {
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
  feedExchange(log, { id: 'x1', method: 'GET', path: '/private', headers: [['authorization', 'Bearer user-secret-credential']] })
  const api = `http://127.0.0.1:${inspector.port}`
  // The attacker's page: same host, another port — the same site, so even SameSite=Strict cookies go along.
  const attackPage = `<!doctype html><title>attack</title><form id="f" method="POST" action="${api}/api/requests/1/replay"></form><script>
    window.results = (async () => {
      const out = {}
      try { const r = await fetch('${api}/api/requests', { credentials: 'include' }); out.read = r.status + ' ' + (await r.text()) } catch (e) { out.read = 'blocked: ' + e.message }
      try { await fetch('${api}/api/requests/1/replay', { method: 'POST', mode: 'no-cors', credentials: 'include' }); out.replay = 'sent' } catch (e) { out.replay = 'blocked: ' + e.message }
      try { await fetch('${api}/api/requests', { method: 'DELETE', mode: 'no-cors', credentials: 'include' }); out.clear = 'sent' } catch (e) { out.clear = 'blocked: ' + e.message }
      return out
    })()
  </script>`
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(attackPage)
  })
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
  t.after(
    () =>
      new Promise<void>((resolve) => {
        evil.close(() => resolve())
        evil.closeAllConnections()
      }),
  )
  const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`

  const started = Date.now()
  const context = await launch(t)
  // The user opens the inspector with its token: the browser now holds its cookie.
  const own = await context.newPage()
  await own.goto(inspector.url)
  await waitLive(own)
  assert.ok(!own.url().includes('token='), 'the token left the address bar')
  // Then visits the other page, in the same browser.
  const page = await context.newPage()
  await page.goto(evilUrl)
  const results = (await page.evaluate('window.results')) as Record<string, string>
  t.diagnostic(`attacker page ran ${Date.now() - started} ms after the start`)
  t.diagnostic(`attacker page: ${JSON.stringify(results)}`)
  assert.ok(!String(results.read).includes('user-secret-credential') && !String(results.read).includes('/private'), 'the page read nothing')
  // A plain form POST (a navigation, no CORS at all) is refused too.
  await Promise.all([page.waitForLoadState('load'), page.evaluate("document.getElementById('f').submit()")])
  await page.waitForTimeout(200)
  assert.match(await page.content(), /ADIT_ERR_INSPECTOR_(ORIGIN|TOKEN)/)
  assert.equal(replays, 0, 'no replay ran')
  assert.equal(log.size, 1, 'the log was neither cleared nor added to')
  // Its own page still works.
  await own.reload()
  await waitLive(own)
  await own.locator('#rows tr[data-id="1"]').waitFor({ timeout: 2000 })
  t.diagnostic(`done ${Date.now() - started} ms after the start`)
})

// ---- through a real tunnel -------------------------------------------------------

test('through a real tunnel: a public request shows up in the agent inspector and replays', { skip: missing }, async (t) => {
  const local = await startLocalService()
  t.after(() => local.close())
  const server = await startServerProcess()
  t.after(() => server.stop())
  const agent = await startAgentProcess(server.url, local.url, { stateFile: 'none', args: ['--inspect', '127.0.0.1:0'] })
  t.after(() => agent.stop())
  const ready = JSON.parse(agent.lines.find((l) => l.startsWith('{"event":"ready"')) as string) as { public_url: string; inspector_url?: string }
  assert.ok(ready.inspector_url, 'the ready line names the inspector')

  const context = await launch(t)
  const page = await context.newPage()
  await page.goto(ready.inspector_url)
  await waitLive(page)
  assert.ok((await page.locator('#tunnel-url').innerText()).startsWith(agent.publicUrl))

  const sentAt = Date.now()
  const reply = await fetch(`${agent.publicUrl}echo/hello?x=1`, { headers: { 'x-test': 'through-the-tunnel' } })
  assert.equal(reply.status, 200)
  assert.equal(((await reply.json()) as { url: string }).url, '/echo/hello?x=1')
  const row = page.locator('#rows tr[data-id="1"]')
  await row.waitFor({ timeout: 1000 })
  t.diagnostic(`tunnelled row visible ${Date.now() - sentAt} ms after the response`)
  assert.match(await row.innerText(), /GET\s+\/echo\/hello\?x=1\s+200/)
  await row.click()
  await page.locator('#detail pre.body', { hasText: '"url": "/echo/hello?x=1"' }).waitFor({ timeout: 2000 })
  assert.match(await page.locator('#detail .headers').first().innerText(), /x-test\s+through-the-tunnel/i)

  await page.locator('#replay').click()
  await page.locator('#rows tr[data-id="2"]').waitFor({ timeout: 3000 })
  assert.deepEqual(
    local.requests.map((r) => `${r.method} ${r.url}`),
    ['GET /echo/hello?x=1', 'GET /echo/hello?x=1'],
  )
  assert.equal(local.requests[1]?.headers['x-test'], 'through-the-tunnel')
  await page.screenshot({ path: join(artifacts, 'inspector-tunnel.png'), fullPage: true })

  // Both processes stop cleanly on SIGTERM, the agent closing its inspector.
  assert.equal(await agent.stop(), 0)
  assert.equal(await server.stop(), 0)
})
