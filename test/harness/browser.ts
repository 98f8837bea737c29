import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { chromium, type BrowserContext } from 'playwright-core'

/** Debian's chromium: playwright-core never downloads a browser. */
export const executablePath = '/usr/bin/chromium'

/** Where screenshots go (git-ignored). */
export const artifacts = join(process.cwd(), 'test', 'artifacts')

/** A skip reason when there is no browser, printed once so a skipped run says why; else false. */
export function browserMissing(what: string): string | false {
  const missing = existsSync(executablePath) ? false : `no browser at ${executablePath} (apt-get install -y chromium) — ${what} skipped`
  if (missing) console.log(`# SKIP ${missing}`)
  return missing
}

/**
 * A headless chromium with a fresh profile, closed and removed in t.after.
 * The flags keep it off the network (this machine has none but loopback).
 */
export async function launchBrowser(t: TestContext, viewport: { width: number; height: number }): Promise<BrowserContext> {
  mkdirSync(artifacts, { recursive: true })
  const userDataDir = mkdtempSync(join(tmpdir(), 'adit-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport,
  })
  t.after(async () => {
    await context.close()
    rmSync(userDataDir, { recursive: true, force: true })
  })
  return context
}
