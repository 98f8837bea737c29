/**
 * The server dashboard in a real browser (Debian's chromium through
 * playwright-core), against real server and agent processes: the token link
 * signs in and leaves the URL, the tunnel shows with its agent connections
 * and a live request rate, the page works from the keyboard; screenshots in
 * light and dark go to test/artifacts/.
 *
 * Skips, saying so, only when there is no browser binary.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { request } from 'undici'
import { artifacts, browserMissing, launchBrowser } from '../harness/browser.js'
import { startLocalService } from '../harness/local-service.js'
import { startAgentProcess, startServerProcess } from '../harness/processes.js'

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
