// The images' CMDs started as real processes, the way the containers start
// them (WORKDIR /app = the repository root, Cloud Run's K_* variables, PORT
// from the platform): the server answers its probes and the Dockerfile's
// HEALTHCHECK, an agent started with the agent image's CMD tunnels through it,
// and both exit cleanly on SIGTERM, which is what node as PID 1 needs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execForm, last, parseDockerfile, parseHealthcheck } from './dockerfile-parser.js'
import { cloudRunEnv, forwardingUrl, listeningPort, localService, start, waitForLine, type TestContext } from './processes.js'
import { cliMissingReason, repoPath, repoRoot } from './repo.js'

interface Image {
  cmd: string[]
  env: Map<string, string>
  healthcheck: string[] | 'none'
}

function image(file: string): Image {
  const final = parseDockerfile(readFileSync(repoPath(file), 'utf8')).stages.at(-1)!
  const env = new Map<string, string>()
  for (const i of final.instructions.filter((x) => x.keyword === 'ENV')) {
    for (const pair of i.args.split(/\s+(?=\w+=)/)) {
      const [k, v] = pair.split('=', 2)
      env.set(k!.trim(), (v ?? '').replace(/\s*\\?\s*$/, '').trim())
    }
  }
  const healthcheck = last(final, 'HEALTHCHECK')
  return {
    cmd: execForm(last(final, 'CMD')!.args)!,
    env,
    healthcheck: healthcheck ? parseHealthcheck(healthcheck.args).command : 'none',
  }
}

async function startServerCmd(
  t: TestContext,
): Promise<{ port: number; stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> }> {
  const server = start(t, image('Dockerfile').cmd, { cwd: repoRoot, env: cloudRunEnv() })
  const port = await waitForLine(server, listeningPort)
  return {
    port,
    stop: async () => {
      const begin = performance.now()
      server.child.kill('SIGTERM')
      const { code, signal } = await server.exited
      return { code, signal, ms: performance.now() - begin }
    },
  }
}

test('server CMD with Cloud Run env: /healthz and /readyz answer, HEALTHCHECK passes, SIGTERM exits 0', async (t) => {
  const reason = cliMissingReason()
  if (reason !== undefined) {
    t.skip(reason)
    return
  }
  const { port, stop } = await startServerCmd(t)
  assert.notEqual(port, 0)
  const health = await fetch(`http://127.0.0.1:${port}/healthz`)
  assert.equal(health.status, 200)
  await health.arrayBuffer()
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
  assert.equal(ready.status, 200)
  await ready.arrayBuffer()

  const healthcheck = image('Dockerfile').healthcheck
  assert.notEqual(healthcheck, 'none')
  const [command, ...args] = healthcheck as string[]
  assert.equal(command, 'node')
  const code = await new Promise<number | null>((resolve, reject) => {
    const probe = spawn(process.execPath, args, { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: 'ignore' })
    probe.once('error', reject)
    probe.once('exit', resolve)
  })
  assert.equal(code, 0, 'the HEALTHCHECK command against the running server')

  // Exit code 0 and no signal: the server handled SIGTERM itself. Unhandled,
  // a normal process would die by the signal, and node as PID 1 would
  // ignore it until Cloud Run's SIGKILL 10 s later.
  const stopped = await stop()
  assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null })
  assert.ok(stopped.ms < 10_000, `stopped in ${stopped.ms.toFixed(0)} ms; Cloud Run kills after 10 s`)
})

test('agent image CMD: tunnels to the server, keeps its state file, exits 0 on SIGTERM', async (t) => {
  const reason = cliMissingReason()
  if (reason !== undefined) {
    t.skip(reason)
    return
  }
  const { port, stop } = await startServerCmd(t)
  const local = await localService(t)
  const stateDir = mkdtempSync(join(tmpdir(), 'adit-agent-state-'))
  t.after(() => rmSync(stateDir, { recursive: true, force: true }))
  const agentImage = image('Dockerfile.agent')
  const stateFile = join(stateDir, 'agent-state.json')
  assert.match(agentImage.env.get('ADIT_STATE_FILE') ?? '', /^\/var\/lib\/adit\//, 'the image keeps state in its volume')
  // The test moves the state file the way `docker run -e ADIT_STATE_FILE=` would.
  const agent = start(t, agentImage.cmd, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      ADIT_SERVER: `http://127.0.0.1:${port}`,
      ADIT_LOCAL: local.url,
      ADIT_API_KEY: 'deploy-test-key',
      ADIT_STATE_FILE: stateFile,
    },
  })
  const publicUrl = await waitForLine(agent, forwardingUrl)
  const response = await fetch(new URL('hello?x=1', publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`))
  assert.equal(response.status, 200)
  assert.equal(await response.text(), 'local saw GET /hello?x=1')
  assert.ok(existsSync(stateFile), 'state file written')
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { public_url?: string }
  assert.equal(state.public_url, publicUrl)

  agent.child.kill('SIGTERM')
  assert.deepEqual(await agent.exited, { code: 0, signal: null })
  const stopped = await stop()
  assert.equal(stopped.code, 0)
})
