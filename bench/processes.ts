/**
 * Starting the processes under test: the local service (ours), and adit's
 * server and agent through the public CLI, exactly as a user runs them.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect as connectTcp, createServer as createNetServer, type AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Child, ChildSet } from './children.js'

/** Generous: on a loaded 2-core machine a node process can take seconds to start. */
const STARTUP_TIMEOUT_MS = 30_000

/** How the adit processes are started: which build, and node flags (profiling). */
export interface AditLaunch {
  bin: string
  /** When set, each adit process writes a V8 CPU profile here when it exits. */
  cpuProfDir: string | undefined
}

function nodeArgs(launch: AditLaunch, name: string): string[] {
  if (launch.cpuProfDir === undefined) return []
  const file = `${name.replace(/[^a-z0-9]+/gi, '-')}-${Date.now()}.cpuprofile`
  return ['--cpu-prof', `--cpu-prof-dir=${launch.cpuProfDir}`, `--cpu-prof-name=${file}`]
}

/** dist/src/bin.js, next to dist/bench/: the build this checkout measures unless told otherwise. */
export const defaultAditBin = fileURLToPath(new URL('../src/bin.js', import.meta.url))

/** Why the tunnel cannot be measured with `bin`, or undefined when it can. */
export function tunnelUnavailableReason(bin: string): string | undefined {
  if (!existsSync(bin)) return `adit CLI not built (${bin} missing): the server and agent are not on this branch yet`
  return undefined
}

export interface LocalService {
  child: Child
  url: string
  /** The raw TCP service (bench/local-service.ts): `GET <n>` / `PUT <n>`. */
  tcpPort: number
}

export async function startLocalService(children: ChildSet): Promise<LocalService> {
  const script = fileURLToPath(new URL('./local-service.js', import.meta.url))
  const child = children.fork('local service', script)
  const ready = await child.waitForLine((line) => line.event === 'ready', STARTUP_TIMEOUT_MS)
  return { child, url: String(ready.url), tcpPort: Number(ready.tcpPort) }
}

/** Each bench server gets its own store folder (the default store is a locked file), removed when the bench exits. */
function benchDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'adit-bench-data-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface AditServer {
  child: Child
  url: string
}

/** A port nobody listens on right now (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

/** Polls `url` until it answers 200, bounded by `timeoutMs`. */
async function waitForOk(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await fetch(url).then(
      (res) => res.ok,
      () => false,
    )
    if (ok) return
    if (child.process.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${child.name} (pid ${child.pid}) did not answer ${url} within ${timeoutMs} ms; last output:\n${child.tail()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export async function startAditServer(
  children: ChildSet,
  launch: AditLaunch,
  name = 'adit server',
  extraArgs: readonly string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<AditServer> {
  // Same-instance figures: never pick up a REDIS_URL from the shell (the cross-instance case sets its own).
  const { REDIS_URL: _redis, ...inherited } = process.env
  // The idle case registers 1,000 tunnels from one address: lift the per-address registration limit.
  const env = { ...inherited, PORT: '0', HOST: '127.0.0.1', ADIT_REGISTER_RATE: '100000/m', ADIT_DATA_DIR: benchDataDir(), ...extraEnv }
  // Below info the server does not log its URL: it gets a port from here and is polled instead.
  const quiet = extraArgs.includes('--log-level')
  const port = quiet ? await freePort() : 0
  const args = ['server', '--port', String(port), '--host', '127.0.0.1', ...extraArgs]
  const child = children.spawnNode(name, launch.bin, args, env, nodeArgs(launch, name))
  if (quiet) {
    const url = `http://127.0.0.1:${port}`
    await waitForOk(`${url}/healthz`, child, STARTUP_TIMEOUT_MS)
    return { child, url }
  }
  const line = await child.waitForLine((l) => l.message === 'listening' && typeof l.url === 'string', STARTUP_TIMEOUT_MS)
  return { child, url: String(line.url) }
}

export interface AditAgent {
  child: Child
  publicUrl: string
  /** Removes the agent's state directory (after the agent has been stopped). */
  cleanup(): Promise<void>
}

export async function startAditAgent(
  children: ChildSet,
  launch: AditLaunch,
  serverUrl: string,
  localUrl: string,
  connections: number | undefined,
  extraArgs: readonly string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<AditAgent> {
  const stateDir = await mkdtemp(join(tmpdir(), 'adit-bench-'))
  // The agent runs with a user's defaults (inspector on); the features case turns them off one at a time.
  const args = ['agent', '--server', serverUrl, '--local', localUrl, '--json', '--state-file', join(stateDir, 'state.json'), ...extraArgs]
  if (connections !== undefined) args.push('--connections', String(connections))
  const cleanup = (): Promise<void> => rm(stateDir, { recursive: true, force: true })
  try {
    const child = children.spawnNode('adit agent', launch.bin, args, { ...process.env, ...extraEnv }, nodeArgs(launch, 'adit agent'))
    const ready = await child.waitForLine((l) => l.event === 'ready' && typeof l.public_url === 'string', STARTUP_TIMEOUT_MS)
    let publicUrl = String(ready.public_url)
    if (!publicUrl.endsWith('/')) publicUrl += '/'
    return { child, publicUrl, cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}

export interface AditTcpTunnel {
  agent: Child
  connect: Child
  /** Where `adit connect` listens: a connection here reaches the TCP target through the tunnel. */
  port: number
  cleanup(): Promise<void>
}

/** `adit tcp <target>` and `adit connect <url> --listen 127.0.0.1:<port> --token …`, as a user runs them. */
export async function startAditTcpTunnel(children: ChildSet, launch: AditLaunch, serverUrl: string, target: string): Promise<AditTcpTunnel> {
  const stateDir = await mkdtemp(join(tmpdir(), 'adit-bench-tcp-'))
  const cleanup = (): Promise<void> => rm(stateDir, { recursive: true, force: true })
  try {
    const args = ['tcp', target, '--server', serverUrl, '--json', '--no-inspect', '--state-file', join(stateDir, 'state.json')]
    const agent = children.spawnNode('adit tcp agent', launch.bin, args, process.env, nodeArgs(launch, 'adit tcp agent'))
    const ready = await agent.waitForLine((l) => l.event === 'ready' && typeof l.visitor_token === 'string', STARTUP_TIMEOUT_MS)
    const port = await freePort()
    const connectArgs = ['connect', String(ready.public_url), '--listen', `127.0.0.1:${port}`, '--token', String(ready.visitor_token)]
    const connect = children.spawnNode('adit connect', launch.bin, connectArgs, process.env, nodeArgs(launch, 'adit connect'))
    await waitForListen(port, connect, STARTUP_TIMEOUT_MS)
    return { agent, connect, port, cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** Polls until something accepts on 127.0.0.1:port (each probe closed at once), bounded by `timeoutMs`. */
async function waitForListen(port: number, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const probe = connectTcp({ host: '127.0.0.1', port }, () => {
        probe.destroy()
        resolve(true)
      })
      probe.once('error', () => resolve(false))
    })
    if (ok) return
    if (child.process.exitCode !== null || Date.now() > deadline)
      throw new Error(`${child.name} (pid ${child.pid}) did not listen on 127.0.0.1:${port} within ${timeoutMs} ms; last output:\n${child.tail()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The limit for TCP: two raw TCP pipe hops in front of `target` (host:port). */
export async function startTcpLimitRelay(children: ChildSet, target: string): Promise<{ port: number; pids: number[] }> {
  const agent = await startRelaySide(children, 'tcp limit agent', 'limit-agent', `tcp://${target}`)
  const server = await startRelaySide(children, 'tcp limit server', 'limit-server', agent.url)
  return { port: Number(new URL(server.url).port), pids: [server.child.pid, agent.child.pid] }
}

/** A reference relay (bench/reference-relays.ts): its public URL and the PIDs of its two sides. */
export interface ReferenceRelay {
  base: string
  pids: number[]
}

const relayScript = fileURLToPath(new URL('./reference-relays.js', import.meta.url))

async function startRelaySide(children: ChildSet, name: string, mode: string, target: string): Promise<{ child: Child; url: string }> {
  const child = children.fork(name, relayScript, [mode, target])
  const line = await child.waitForLine((l) => l.event === 'ready', STARTUP_TIMEOUT_MS)
  return { child, url: String(line.url) }
}

/** The limit: two raw TCP pipe hops in front of the local service. */
export async function startLimitRelay(children: ChildSet, localUrl: string): Promise<ReferenceRelay> {
  const agent = await startRelaySide(children, 'limit agent', 'limit-agent', localUrl)
  const server = await startRelaySide(children, 'limit server', 'limit-server', agent.url)
  return { base: `${server.url}/`, pids: [server.child.pid, agent.child.pid] }
}

/** The floor: a minimal WebSocket relay (JSON heads, no flow control). */
export async function startFloorRelay(children: ChildSet, localUrl: string): Promise<ReferenceRelay> {
  const server = await startRelaySide(children, 'floor server', 'floor-server', '-')
  const agent = await startRelaySide(children, 'floor agent', 'floor-agent', `${server.url} ${localUrl}`)
  return { base: `${server.url}/`, pids: [server.child.pid, agent.child.pid] }
}
