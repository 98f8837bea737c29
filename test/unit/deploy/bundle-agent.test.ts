// scripts/bundle-agent.mjs: the one-file agent runs with plain node from a
// directory with no node_modules anywhere above it, and really tunnels.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { cloudRunEnv, forwardingUrl, listeningPort, localService, start, waitForLine } from './processes.js'
import { cliMissingReason, repoPath, repoRoot } from './repo.js'
import { runCommand } from '../../harness/run-command.js'

/** True when a node_modules folder exists in dir or any parent. */
function nodeModulesAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return true
    if (dirname(d) === d) return false
  }
}

let bundled: string | undefined

async function bundle(): Promise<string> {
  if (bundled !== undefined) return bundled
  const result = await runCommand(process.execPath, [repoPath('scripts', 'bundle-agent.mjs')], { cwd: repoRoot, env: { PATH: process.env.PATH } })
  assert.equal(result.code, 0, result.stderr)
  const out = repoPath('dist', 'adit-agent.mjs')
  assert.ok(existsSync(out), 'dist/adit-agent.mjs written')
  bundled = out
  return out
}

function isolatedCopy(t: { after: (fn: () => void) => void }, file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'adit-bundle-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  assert.equal(nodeModulesAbove(dir), false, `${dir} must have no node_modules above it`)
  copyFileSync(file, join(dir, 'adit-agent.mjs'))
  return dir
}

test('bundle: `node adit-agent.mjs agent --help` works alone in an empty directory', async (t) => {
  const reason = cliMissingReason()
  if (reason !== undefined) {
    t.skip(reason)
    return
  }
  const file = await bundle()
  const text = readFileSync(file, 'utf8')
  // The createRequire banner, and the optional natives left external.
  assert.match(text.slice(0, 300), /createRequire/)
  const dir = isolatedCopy(t, file)
  const help = await runCommand(process.execPath, ['adit-agent.mjs', 'agent', '--help'], { cwd: dir, env: { PATH: process.env.PATH } })
  assert.equal(help.code, 0, help.stderr)
  assert.match(help.stdout, /--server <url>/)
  assert.match(help.stdout, /--local <target>/)
})

test('bundle: the bundled agent tunnels a request through the real server', async (t) => {
  const reason = cliMissingReason()
  if (reason !== undefined) {
    t.skip(reason)
    return
  }
  const dir = isolatedCopy(t, await bundle())
  const server = start(t, ['node', 'dist/src/bin.js', 'server'], { cwd: repoRoot, env: cloudRunEnv() })
  const port = await waitForLine(server, listeningPort)
  const local = await localService(t)
  const agent = start(t, ['node', 'adit-agent.mjs', 'agent', '--server', `http://127.0.0.1:${port}`, '--local', local.url, '--state-file', 'none'], {
    cwd: dir,
    env: { PATH: process.env.PATH, ADIT_API_KEY: 'deploy-test-key' },
  })
  const publicUrl = await waitForLine(agent, forwardingUrl)
  const response = await fetch(new URL('bundled', publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`))
  assert.equal(response.status, 200)
  assert.equal(await response.text(), 'local saw GET /bundled')
  agent.child.kill('SIGTERM')
  assert.deepEqual(await agent.exited, { code: 0, signal: null })
  server.child.kill('SIGTERM')
  assert.equal((await server.exited).code, 0)
})
