/**
 * The real images, built by scripts/build-images.sh (buildah, no Docker
 * engine) and run here: the agent image opens a tunnel to the server image,
 * a request goes through it, the server image's HEALTHCHECK command passes,
 * both run as uid 1000, and SIGTERM ends the server cleanly (exit 0).
 *
 * The containers run with `buildah run --isolation chroot --network host`:
 * podman's runc cannot start a container on these machines (setrlimit is
 * refused: "error setting rlimit type 6: operation not permitted"), while
 * buildah's chroot isolation, which the build itself uses, can.
 *
 * Slow (a first build makes a Debian base: minutes), so it runs only with
 * ADIT_IMAGE_TEST=1 (.ci/images.sh sets it) and is skipped loudly elsewhere.
 */
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort } from '../harness/cluster.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'

const run = promisify(execFile)
const wanted = process.env.ADIT_IMAGE_TEST === '1'
const root = fileURLToPath(new URL('../../..', import.meta.url))
const SERVER_TAG = process.env.SERVER_TAG ?? 'localhost/adit-server:dev'
const AGENT_TAG = process.env.AGENT_TAG ?? 'localhost/adit-agent:dev'
const env = { ...process.env, STORAGE_DRIVER: process.env.STORAGE_DRIVER ?? 'vfs' }

if (!wanted)
  process.stderr.write('\n!!! SKIPPING the image test (test/e2e/images.test.ts): set ADIT_IMAGE_TEST=1 (.ci/images.sh does) to build and run the images.\n\n')

async function buildah(...args: string[]): Promise<string> {
  const { stdout } = await run('buildah', args, { env, maxBuffer: 16 * 1024 * 1024 })
  return stdout.trim()
}

interface Running {
  proc: ChildProcess
  output: string[]
  exited: Promise<number | null>
}

/** Runs `command` in a working container of `image` as the image's user, on the host network. */
function runIn(container: string, vars: Record<string, string>, command: string[]): Running {
  const args = [
    'run',
    '--isolation',
    'chroot',
    '--network',
    'host',
    ...Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    container,
    '--',
    ...command,
  ]
  const proc = spawn('buildah', args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()))
  proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return { proc, output, exited }
}

/** The pid listening on `port` (the container's node, not buildah). */
async function listener(port: number): Promise<number> {
  const { stdout } = await run('ss', ['-ltnpH', `sport = :${port}`])
  const pid = /pid=(\d+)/.exec(stdout)
  if (!pid) throw new Error(`nothing listens on ${port}`)
  return Number(pid[1])
}

function uidOf(pid: number): string {
  return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!
}

describe(
  'images: server and agent built with buildah, run from the images',
  { skip: wanted ? false : 'set ADIT_IMAGE_TEST=1 to build and run the images' },
  () => {
    const containers: string[] = []
    const running: Running[] = []
    let service: LocalService
    let port: number
    before(
      async () => {
        // ADIT_IMAGES_PREBUILT=1: the images were just built (by hand); use them as they are.
        if (process.env.ADIT_IMAGES_PREBUILT !== '1') {
          const built = await run('bash', ['scripts/build-images.sh'], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 })
          process.stderr.write(built.stdout)
        }
        service = await startLocalService()
        port = await freePort()
      },
      { timeout: 1_500_000 },
    )
    after(async () => {
      for (const r of running) if (r.proc.exitCode === null) r.proc.kill('SIGKILL')
      await Promise.all(running.map((r) => r.exited))
      for (const c of containers) await buildah('rm', c).catch(() => '')
      await service?.close()
    })

    it('a request goes through a tunnel between the two images; HEALTHCHECK, uid 1000, clean SIGTERM', { timeout: 180_000 }, async () => {
      const serverCtr = await buildah('from', SERVER_TAG)
      containers.push(serverCtr)
      const agentCtr = await buildah('from', AGENT_TAG)
      containers.push(agentCtr)
      const server = runIn(serverCtr, { PORT: String(port), HOST: '127.0.0.1', ADIT_ALLOW_OPEN_REGISTRATION: 'true' }, ['node', 'dist/src/bin.js', 'server'])
      running.push(server)
      const serverUrl = `http://127.0.0.1:${port}`
      for (let i = 0; ; i++) {
        const up = await request(`${serverUrl}/healthz`).then(
          (r) => (r.body.resume(), r.statusCode === 200),
          () => false,
        )
        if (up) break
        if (i > 300) throw new Error(`server image did not answer /healthz:\n${server.output.join('')}`)
        await delay(100)
      }
      const serverPid = await listener(port)
      assert.equal(uidOf(serverPid), '1000', 'the server runs as the node user')

      const agent = runIn(agentCtr, { ADIT_SERVER: serverUrl, ADIT_LOCAL: service.url }, ['node', 'dist/src/bin.js', 'agent', '--json', '--no-inspect'])
      running.push(agent)
      let publicUrl: string | undefined
      for (let i = 0; publicUrl === undefined; i++) {
        const ready = agent.output
          .join('')
          .split('\n')
          .find((l) => l.startsWith('{"event":"ready"'))
        if (ready) publicUrl = (JSON.parse(ready) as { public_url: string }).public_url
        else if (i > 300) throw new Error(`agent image printed no ready line:\n${agent.output.join('')}`)
        else await delay(100)
      }
      const res = await request(`${publicUrl}echo/through-images`)
      assert.equal(res.statusCode, 200)
      assert.equal(((await res.body.json()) as { url: string }).url, '/echo/through-images')
      // The agent's WebSockets are the connections to the server port from a process other than this one.
      const { stdout: peers } = await run('ss', ['-tnpH', 'state', 'established', `dport = :${port}`])
      const agentPids = [...peers.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])).filter((pid) => pid !== process.pid)
      assert.ok(agentPids.length > 0, `no agent connection to the server: ${peers}`)
      for (const pid of agentPids) assert.equal(uidOf(pid), '1000', 'the agent runs as the node user')

      // The image's HEALTHCHECK, run as Docker would: its CMD inside the server image.
      const config = JSON.parse(await buildah('inspect', '--type', 'image', SERVER_TAG)) as { Docker?: { config?: { Healthcheck?: { Test?: string[] } } } }
      const test = config.Docker?.config?.Healthcheck?.Test
      assert.equal(test?.[0], 'CMD', `the server image has a HEALTHCHECK: ${JSON.stringify(test)}`)
      const checkCtr = await buildah('from', SERVER_TAG)
      containers.push(checkCtr)
      const check = runIn(checkCtr, { PORT: String(port) }, test!.slice(1))
      running.push(check)
      assert.equal(await check.exited, 0, `HEALTHCHECK failed: ${check.output.join('')}`)

      process.kill(serverPid, 'SIGTERM')
      assert.equal(await server.exited, 0, `SIGTERM ends the server cleanly:\n${server.output.join('').slice(-500)}`)
    })
  },
)
