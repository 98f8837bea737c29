/**
 * The server dashboard in a real browser (Debian's chromium through
 * playwright-core), against real server and agent processes: the token link
 * signs in and leaves the URL, the tunnel shows with its agent connections
 * and a live request rate, the page works from the keyboard; screenshots in
 * light and dark go to test/artifacts/. A tunnel with routes shows, per
 * request, the route it took and the rule (the agent's or the server's)
 * that answered it.
 *
 * Skips, saying so, only when there is no browser binary.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { request } from 'undici'
import { artifacts, browserMissing, launchBrowser } from '../harness/browser.js'
import { startLocalService } from '../harness/local-service.js'
import { startAgentProcess, startServerProcess, type AgentProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'
import type { DashboardSnapshot } from '../../src/server/dashboard/snapshot.js'

const missing = browserMissing('dashboard browser test')
const TOKEN = 'dashboard-test-token-0123456789'

test('dashboard: token link signs in, tunnels with agents and live rate, keyboard, light and dark', { skip: missing }, async (t) => {
  const local = await startLocalService()
  t.after(() => local.close())
  const server = await startServerProcess({ env: { ADIT_ADMIN_TOKEN: TOKEN } })
  t.after(() => server.stop())
  const agent = await startAgentProcess(server.url, local.url, { stateFile: 'none' })
  t.after(() => agent.stop())

  // Without the token there is nothing to see.
  const anonymous = await request(`${server.url}/dashboard/api`)
  assert.equal(anonymous.statusCode, 401)
  await anonymous.body.dump()

  // Some traffic: a bounded burst, so the rate column has something to show.
  for (let i = 0; i < 40; i++) {
    const res = await request(`${agent.publicUrl}item/${i}`)
    await res.body.dump()
  }

  const context = await launchBrowser(t, { width: 1280, height: 600 })
  const page = context.pages()[0] ?? (await context.newPage())
  await page.goto(`${server.url}/dashboard?token=${TOKEN}`)
  assert.equal(new URL(page.url()).search, '', 'the redirect took the token out of the address bar')
  assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is HttpOnly')
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 5000 })

  const row = page.locator(`#rows tr[data-tunnel="${agent.id}"]`)
  await row.waitFor({ timeout: 5000 })
  // The agent keeps two connections by default.
  const agentsCell = page.locator(`#rows tr[data-tunnel="${agent.id}"] td.agents`)
  await agentsCell.filter({ hasText: /^2$/ }).waitFor({ timeout: 5000 })
  assert.equal(await row.locator('td.total').textContent(), '40')
  // The rate counts complete seconds only: a snapshot taken in the second of the burst still shows 0.0; the next one (a second later) does not.
  await row
    .locator('td.rate')
    .filter({ hasText: /^(?!0\.0$)\d+\.\d$/ })
    .waitFor({ timeout: 3000 })
    .catch(() => {})
  assert.ok(Number(await row.locator('td.rate').textContent()) > 0, 'a live rate while requests are recent')
  assert.match((await row.locator('td').nth(2).textContent()) ?? '', /adit\.v2/)
  assert.match((await row.locator('svg.spark').getAttribute('aria-label')) ?? '', /^40 requests in the last 60 seconds/)
  await page.screenshot({ path: join(artifacts, 'dashboard-light.png'), fullPage: true })

  // Keyboard: the skip link, the Pause toggle, then the tunnel rows.
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate('document.activeElement?.className'), 'skip')
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate('document.activeElement?.id'), 'pause')
  await page.keyboard.press('Space')
  assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true')
  assert.equal(await page.locator('#live').textContent(), 'paused')
  await page.keyboard.press('Enter')
  assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'false')
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate('document.activeElement?.dataset.tunnel'), agent.id)

  await page.emulateMedia({ colorScheme: 'dark' })
  const background = await page.evaluate('getComputedStyle(document.body).backgroundColor')
  assert.equal(background, 'rgb(13, 17, 23)', 'dark scheme colours')
  await page.screenshot({ path: join(artifacts, 'dashboard-dark.png'), fullPage: true })

  // The agent goes away: its row loses its connections (and keeps its recent rate).
  await agent.stop()
  await agentsCell.filter({ hasText: /^0$/ }).waitFor({ timeout: 5000 })
  assert.equal(await agentsCell.textContent(), '0')
})

/** An agent with routes: one to a service, a webhook check, a status route and a per-visitor limit. */
async function routedAgent(t: { after: (fn: () => unknown) => void }, serverUrl: string, localUrl: string): Promise<AgentProcess> {
  const dir = tempDir()
  t.after(() => dir.remove())
  const config = dir.file('agent.yaml')
  writeFileSync(
    config,
    [
      'routes:',
      '  - path: /api',
      `    local: ${localUrl}`,
      '  - path: /hooks',
      `    local: ${localUrl}`,
      '    webhook: { provider: github, secret: dashboard-webhook-secret }',
      '  - path: /old',
      '    status: 410',
      '  - path: /limited',
      `    local: ${localUrl}`,
      '    rate_limit: 1/m,burst=1',
      '',
    ].join('\n'),
  )
  const agent = await startAgentProcess(serverUrl, localUrl, { stateFile: 'none', args: ['--config', config] })
  t.after(() => agent.stop())
  return agent
}

/** One request of each kind; returns the statuses, in order. */
async function routedTraffic(base: string): Promise<number[]> {
  const statuses: number[] = []
  for (const [path, method] of [
    ['api/items', 'GET'],
    ['hooks/push', 'POST'],
    ['old/page', 'GET'],
    ['limited/a', 'GET'],
    ['limited/b', 'GET'],
    ['elsewhere', 'GET'],
  ] as const) {
    const res = await request(`${base}${path}`, { method, ...(method === 'POST' ? { body: '{}' } : {}) })
    await res.body.dump()
    statuses.push(res.statusCode)
  }
  return statuses
}

test('dashboard API: each recent request with the route it took and the rule that answered it', async (t) => {
  const local = await startLocalService()
  t.after(() => local.close())
  const server = await startServerProcess({ env: { ADIT_ADMIN_TOKEN: TOKEN } })
  t.after(() => server.stop())
  const agent = await routedAgent(t, server.url, local.url)
  assert.deepEqual(await routedTraffic(agent.publicUrl), [200, 401, 410, 200, 429, 200])
  const res = await request(`${server.url}/dashboard/api`, { headers: { authorization: `Bearer ${TOKEN}` } })
  assert.equal(res.statusCode, 200)
  const snapshot = (await res.body.json()) as DashboardSnapshot
  const origin = new URL(local.url).origin
  const mine = snapshot.recent.filter((r) => r.tunnelId === agent.id)
  assert.deepEqual(
    mine.map((r) => [r.method, r.path, r.status, r.route, r.answeredBy?.replace(/: .*/, ': …')]),
    [
      ['GET', '/elsewhere', 200, `/ → ${origin}`, undefined],
      ['GET', '/limited/b', 429, undefined, 'visitor rate limit'],
      ['GET', '/limited/a', 200, `/limited → ${origin}`, undefined],
      ['GET', '/old/page', 410, '/old → 410', 'route /old → 410'],
      ['POST', '/hooks/push', 401, `/hooks → ${origin}`, 'webhook github: …'],
      ['GET', '/api/items', 200, `/api → ${origin}`, undefined],
    ],
    'newest first',
  )
  assert.match(mine[4]!.answeredBy!, /^webhook github: webhook signature missing: no X-Hub-Signature-256 header$/)
  assert.ok(mine.every((r) => r.requestId !== '' && !Number.isNaN(Date.parse(r.at))))
  // The access log says the same, per line.
  const limited = JSON.parse(await server.waitForLine((l) => l.includes('"path":"/limited/b"'))) as { route?: string; answeredBy?: string }
  assert.equal(limited.answeredBy, 'visitor rate limit')
  const routed = JSON.parse(await server.waitForLine((l) => l.includes('"path":"/api/items"'))) as { route?: string; answeredBy?: string }
  assert.deepEqual([routed.route, routed.answeredBy], [`/api → ${origin}`, undefined])
})

test('dashboard page: the recent requests table shows route and answered-by as text', { skip: missing }, async (t) => {
  const local = await startLocalService()
  t.after(() => local.close())
  const server = await startServerProcess({ env: { ADIT_ADMIN_TOKEN: TOKEN } })
  t.after(() => server.stop())
  const agent = await routedAgent(t, server.url, local.url)
  await routedTraffic(agent.publicUrl)

  const context = await launchBrowser(t, { width: 1280, height: 800 })
  const page = context.pages()[0] ?? (await context.newPage())
  await page.goto(`${server.url}/dashboard?token=${TOKEN}`)
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 5000 })
  const rows = page.locator('#recent-rows tr')
  await rows.nth(5).waitFor({ timeout: 5000 })
  const cells = async (i: number) => {
    const row = rows.nth(i)
    return [
      await row.locator('td.path').textContent(),
      await row.locator('td.status').textContent(),
      await row.locator('td.route').textContent(),
      await row.locator('td.answered').textContent(),
    ]
  }
  const origin = new URL(local.url).origin
  assert.deepEqual(await cells(0), ['GET /elsewhere', '200', `/ → ${origin}`, '—'])
  assert.deepEqual(await cells(1), ['GET /limited/b', '429', '—', 'visitor rate limit'])
  assert.deepEqual(await cells(3), ['GET /old/page', '410', '/old → 410', 'route /old → 410'])
  assert.match((await cells(4))[3] ?? '', /^webhook github: webhook signature missing/)
  assert.equal(await page.locator('#recent-empty').isHidden(), true)
  await page.screenshot({ path: join(artifacts, 'dashboard-recent.png'), fullPage: true })
})
