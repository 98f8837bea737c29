// scripts/build-sea.sh up to the preparation blob (SEA_SKIP_INJECT=1): the
// injection step needs postject, which is not a dependency of this project.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliMissingReason, repoPath, repoRoot } from './repo.js'
import { runCommand } from '../../harness/run-command.js'

test('build-sea.sh: CommonJS bundle and SEA blob; the bundle runs alone', async (t) => {
  const reason = cliMissingReason()
  if (reason !== undefined) {
    t.skip(reason)
    return
  }
  const out = mkdtempSync(join(tmpdir(), 'adit-sea-'))
  t.after(() => rmSync(out, { recursive: true, force: true }))
  const built = await runCommand('bash', [repoPath('scripts', 'build-sea.sh')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, SEA_SKIP_INJECT: '1', SEA_OUT_DIR: out },
  })
  assert.equal(built.code, 0, built.stderr)
  const cjs = join(out, 'adit-agent.cjs')
  const blob = join(out, 'adit-agent.blob')
  assert.ok(existsSync(cjs) && existsSync(blob))
  assert.ok(statSync(blob).size > statSync(cjs).size / 2, 'the blob carries the script')
  assert.equal(existsSync(join(out, 'adit-agent')), false, 'no executable without injection')
  // Inside a SEA, require() of anything but a built-in prints a warning on every run.
  const required = [...readFileSync(cjs, 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!)
  const outside = [...new Set(required.filter((name) => !name.startsWith('node:') && !builtinModules.includes(name)))]
  assert.deepEqual(outside, [], 'the SEA script requires only built-ins')

  const dir = mkdtempSync(join(tmpdir(), 'adit-sea-run-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  copyFileSync(cjs, join(dir, 'adit-agent.cjs'))
  const help = await runCommand(process.execPath, ['adit-agent.cjs', 'agent', '--help'], { cwd: dir, env: { PATH: process.env.PATH } })
  assert.equal(help.code, 0, help.stderr)
  assert.match(help.stdout, /--server <url>/)
})
