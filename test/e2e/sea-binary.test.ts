/**
 * The real single executable (scripts/build-sea.sh, all three steps, postject
 * injection included) built from the Node given in SEA_NODE (Node 24 LTS in
 * .ci/sea.sh) and run as a user runs it: `--version` prints the version and
 * nothing on stderr (no SEA warning), and `adit-agent agent …` opens a tunnel
 * to a real server through which a request is answered.
 *
 * Slow (it copies and patches a ~120 MiB node binary, and fetches postject
 * with npx when it is not installed), so it runs only with ADIT_SEA_TEST=1
 * (.ci/sea.sh sets it) and is skipped loudly elsewhere.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { cleanupList } from '../harness/cleanup.js'
import { startLocalService } from '../harness/local-service.js'
import { startServerProcess } from '../harness/processes.js'
import { runCommand } from '../harness/run-command.js'
import { tempDir } from '../harness/temp.js'

const wanted = process.env.ADIT_SEA_TEST === '1'
const root = fileURLToPath(new URL('../../..', import.meta.url))
const seaNode = process.env.SEA_NODE ?? process.execPath

if (!wanted)
  process.stderr.write('\n!!! SKIPPING the SEA binary test (test/e2e/sea-binary.test.ts): set ADIT_SEA_TEST=1 (.ci/sea.sh does) to build and run it.\n\n')

describe('the single executable (SEA), built and run', { skip: !wanted }, () => {
  const jobs = cleanupList()
  const out = tempDir('adit-sea-bin-')
  const exe = `${out.path}/adit-agent`
  after(async () => {
    await jobs.run()
    out.remove()
  })

  before(async () => {
    const built = await runCommand('bash', ['scripts/build-sea.sh'], { cwd: root, env: { ...process.env, SEA_NODE: seaNode, SEA_OUT_DIR: out.path } })
    assert.equal(built.code, 0, `${built.stdout}\n${built.stderr}`)
    assert.ok(existsSync(exe), 'the executable was written')
  })

  it('--version prints the version and nothing on stderr: no SEA warning', async () => {
    const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }
    const res = await runCommand(exe, ['--version'], { env: { PATH: process.env.PATH } })
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.stdout.trim(), version)
    assert.equal(res.stderr, '')
  })

  it('the binary alone opens a tunnel that answers, with the inspector on, and prints no warning', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess())
    const state = jobs.add(tempDir())
    const agent = spawn(
      exe,
      ['agent', '--server', server.url, '--local', service.url, '--json', '--state-file', state.file('s.json'), '--inspect', '127.0.0.1:0'],
      { env: { PATH: process.env.PATH, HOME: state.path }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()))
    jobs.add({ close: async () => (agent.exitCode === null ? (agent.kill('SIGKILL'), await exited) : undefined) })
    const stderr: string[] = []
    createInterface({ input: agent.stderr }).on('line', (l) => stderr.push(l))
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line in 30 s; stderr:\n${stderr.join('\n')}`)), 30_000)
      createInterface({ input: agent.stdout }).on('line', (l) => {
        if (l.startsWith('{"event":"ready"')) (clearTimeout(timer), resolve(l))
      })
      agent.once('exit', (code) => (clearTimeout(timer), reject(new Error(`exited ${code}; stderr:\n${stderr.join('\n')}`))))
    })
    const { public_url } = JSON.parse(ready) as { public_url: string }
    const res = await request(`${public_url}echo`)
    assert.equal(res.statusCode, 200)
    await res.body.text()
    assert.deepEqual(
      stderr.filter((l) => /warning|single executable|SEA/i.test(l)),
      [],
      'no SEA or module warning on a normal run',
    )
  })
})
