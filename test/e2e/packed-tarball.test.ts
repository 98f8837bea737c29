import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { cleanupList } from '../harness/cleanup.js'
import { httpGet } from '../harness/http-client.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

/** A process of the installed package, its lines collected; killed by the cleanup list. */
function spawnInstalled(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const proc = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let buffered = ''
  const onData = (chunk: Buffer): void => {
    buffered += chunk.toString()
    const parts = buffered.split('\n')
    buffered = parts.pop()!
    lines.push(...parts)
  }
  proc.stdout.on('data', onData)
  proc.stderr.on('data', onData)
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const waitFor = async (predicate: (l: string) => boolean, timeoutMs: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = lines.find(predicate)
      if (found !== undefined) return found
      if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode}:\n${lines.join('\n')}`)
      if (Date.now() > deadline) throw new Error(`timed out:\n${lines.slice(-10).join('\n')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    lines,
    waitFor,
    exited,
    close: async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL')
      await exited
    },
  }
}

describe('done when: the packed tarball, installed into an empty prefix, runs `adit http` against a server started after it', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('npm pack → npm install <tarball> → adit http <port> waits for the server, then serves', { timeout: 180_000 }, async (t) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string }
    const dir = jobs.add(tempDir('adit-pack-'))
    // dist/ is what the test run was built from: pack it as it is (no prepare/build here).
    await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir.path], { cwd: ROOT, timeout: 60_000 })
    const tarball = join(dir.path, `${pkg.name}-${pkg.version}.tgz`)
    const prefix = join(dir.path, 'prefix')
    // The test may not reach a registry: the dependencies come from this checkout's node_modules
    // (hard links), as an offline cache would give them; npm installs the tarball and prunes the rest.
    cpSync(join(ROOT, 'node_modules'), join(prefix, 'node_modules'), { recursive: true, verbatimSymlinks: true })
    rmSync(join(prefix, 'node_modules', '.package-lock.json'), { force: true })
    writeFileSync(join(prefix, 'package.json'), '{"name":"empty","version":"1.0.0","private":true}\n')
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: prefix, timeout: 120_000 })
    const bin = join(prefix, 'node_modules', '.bin', 'adit')
    const version = await run(process.execPath, [bin, '--version'], { cwd: prefix })
    assert.equal(version.stdout.trim(), pkg.version)
    t.diagnostic(`installed ${pkg.name}@${pkg.version} from ${tarball}`)

    const service = jobs.add(await startLocalService())
    const port = await freePort()
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir.path, XDG_CONFIG_HOME: join(dir.path, 'config') }
    const agent = jobs.add(
      spawnInstalled(bin, ['http', new URL(service.url).port, '--server', `http://127.0.0.1:${port}`, '--json', '--no-inspect'], prefix, env),
    )
    const waiting = JSON.parse(await agent.waitFor((l) => l.startsWith('{"event":"waiting"'), 30_000)) as { reason: string }
    assert.equal(waiting.reason, 'unreachable')
    const server = jobs.add(spawnInstalled(bin, ['server', '--host', '127.0.0.1', '--port', String(port), '--store', 'memory'], prefix, env))
    await server.waitFor((l) => l.includes('"message":"listening"'), 30_000)
    const ready = JSON.parse(await agent.waitFor((l) => l.startsWith('{"event":"ready"'), 40_000)) as { public_url: string }
    const res = await httpGet(`${ready.public_url}echo`)
    assert.equal(res.status, 200, res.body)
  })
})
