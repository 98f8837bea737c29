import { Agent as HttpAgent } from 'node:http'
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2'
import { connect, createServer, type AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { spawnAdit, type Spawned } from '../processes.js'
import type { CloudRunOptions } from './options.js'

/**
 * starting: process up or cold-starting, not routed to. serving: routed to.
 * leaving: got SIGTERM, not routed to, SIGKILL at `killAfterMs`. gone: exited.
 */
export type InstanceState = 'starting' | 'serving' | 'leaving' | 'gone'

let nextNumber = 1

/** One `adit server` process behind the front end, with what Cloud Run sets on a container. */
export class Instance {
  readonly name: string
  readonly revision: string
  readonly port: number
  readonly proc: Spawned
  state: InstanceState = 'starting'
  /** Requests (WebSockets included) it carries now. */
  inFlight = 0
  /** Requests it was given in all. */
  served = 0
  /** Keep-alive connections from the front end to it (HTTP/1 mode). */
  readonly agent = new HttpAgent({ keepAlive: true, maxSockets: Infinity })
  private h2: ClientHttp2Session | undefined
  private killTimer: NodeJS.Timeout | undefined

  constructor(options: CloudRunOptions, revision: string, port: number) {
    this.revision = `${options.service}-${revision}`
    this.name = `${this.revision}-${nextNumber++}`
    this.port = port
    this.proc = spawnAdit(['server', ...options.args], {
      ...options.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      K_SERVICE: options.service,
      K_REVISION: this.revision,
      K_CONFIGURATION: options.service,
    })
    void this.proc.exited.then(() => {
      this.state = 'gone'
      if (this.killTimer) clearTimeout(this.killTimer)
      this.agent.destroy()
      this.h2?.destroy()
    })
  }

  get pid(): number {
    return this.proc.pid
  }

  /** The h2c session the front end keeps to it (HTTP/2 mode), made again after a failure. */
  session(): ClientHttp2Session {
    if (this.h2 === undefined || this.h2.closed || this.h2.destroyed) {
      const session = http2Connect(`http://127.0.0.1:${this.port}`)
      session.on('error', () => {})
      session.once('close', () => {
        if (this.h2 === session) this.h2 = undefined
      })
      this.h2 = session
    }
    return this.h2
  }

  /** Scale-in or replacement: out of routing now, SIGTERM now, SIGKILL after `killAfterMs`. */
  retire(killAfterMs: number): Promise<number | null> {
    if (this.state === 'gone') return this.proc.exited
    this.state = 'leaving'
    this.proc.proc.kill('SIGTERM')
    this.killTimer = setTimeout(() => this.proc.proc.kill('SIGKILL'), killAfterMs)
    return this.proc.exited
  }

  /** An instance lost without warning. */
  kill(): Promise<number | null> {
    if (this.state !== 'gone') this.state = 'leaving'
    this.proc.proc.kill('SIGKILL')
    return this.proc.exited
  }
}

/** Cloud Run's default startup probe: a TCP connect to PORT succeeds. */
async function startupProbe(instance: Instance, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (instance.state === 'gone')
      throw new Error(`instance ${instance.name} exited before it listened; last lines:\n${instance.proc.lines.slice(-10).join('\n')}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(instance.port, '127.0.0.1')
      socket.once('connect', () => (socket.destroy(), resolve(true)))
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`instance ${instance.name} did not listen on ${instance.port} within ${timeoutMs} ms`)
    await delay(50)
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Every instance the service has had, and which of them a new request may go to. */
export class InstancePool {
  readonly all: Instance[] = []
  private readonly options: CloudRunOptions
  private readonly waiters = new Set<() => void>()

  constructor(options: CloudRunOptions) {
    this.options = options
  }

  /** Instances that are not gone or leaving. */
  get live(): Instance[] {
    return this.all.filter((i) => i.state === 'starting' || i.state === 'serving')
  }

  get serving(): Instance[] {
    return this.all.filter((i) => i.state === 'serving')
  }

  /** Starts one instance of `revision`; resolves once it is routed to (listening, then the cold start). */
  async add(revision: string): Promise<Instance> {
    const instance = new Instance(this.options, revision, await freePort())
    this.all.push(instance)
    await startupProbe(instance, 60_000)
    if (this.options.coldStartMs > 0) await delay(this.options.coldStartMs)
    if (instance.state === 'starting') instance.state = 'serving'
    for (const wake of this.waiters) wake()
    return instance
  }

  /**
   * An instance for a new request, its slot taken (give it back with
   * `release`): the affinity instance when it serves and has room, else a
   * random serving one with room. 'full' when every instance is at its
   * concurrency; 'none' when none served within `pendingTimeoutMs`.
   */
  async acquire(affinity?: string): Promise<Instance | 'full' | 'none'> {
    const deadline = Date.now() + this.options.pendingTimeoutMs
    while (this.serving.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) return 'none'
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer)
          this.waiters.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, Math.min(left, 250))
        this.waiters.add(wake)
      })
    }
    const room = this.serving.filter((i) => i.inFlight < this.options.concurrency)
    if (room.length === 0) return 'full'
    const chosen = room.find((i) => i.name === affinity) ?? room[Math.floor(Math.random() * room.length)]!
    chosen.inFlight++
    chosen.served++
    return chosen
  }

  release(instance: Instance): void {
    instance.inFlight--
  }
}
