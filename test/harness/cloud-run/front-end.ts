import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { forward, frontEndAnswer } from './forward.js'
import { instanceHeaders } from './headers.js'
import { InstancePool, type Instance } from './instances.js'
import { resolveCloudRunOptions, type CloudRunOptions } from './options.js'
import { forwardUpgrade, refuseUpgrade } from './upgrade.js'

/** Cloud Run's session-affinity cookie. */
export const AFFINITY_COOKIE = 'GAESA'

/** What the front end did, for assertions and the soak's figures. */
export interface FrontEndCounters {
  requests: number
  upgrades: number
  /** Requests cut by the request timeout. */
  timeouts: number
  /** WebSockets (any upgrade) cut by the request timeout. */
  upgradeTimeouts: number
  tooLarge: number
  tooMany: number
}

/** One request or upgrade as the front end saw it (the soak lays failures against these). */
export interface FrontEndEntry {
  start: number
  /** When the client's side closed; undefined while open. */
  end?: number
  method: string
  url: string
  /** Instance chosen; undefined when the front end answered itself before choosing one. */
  instance?: string
  /** Status the client got (the instance's, or the front end's own); undefined when none was sent. */
  status?: number
  /** The instance's x-adit-request-id, when it sent one. */
  requestId?: string
}

export interface CloudRun {
  url: string
  port: number
  options: CloudRunOptions
  pool: InstancePool
  counters: FrontEndCounters
  /** The last 50,000 requests and upgrades, oldest first. */
  log: FrontEndEntry[]
  /** Client connections open now: what each read and wrote, and when it last began a request (diagnostics). */
  sockets(): Array<{ remotePort: number | undefined; bytesRead: number; bytesWritten: number; requests: number; lastRequestAt: number | undefined }>
  /** Instances routed to now. */
  readonly serving: Instance[]
  /** Starts instances (of the current revision) or retires the newest until `n` are live. */
  scaleTo(n: number): Promise<void>
  /** A new revision, rolled: for each old instance a new one starts and, once it serves, the old one leaves (SIGTERM, SIGKILL after `killAfterMs`). Resolves when every old one exited. */
  deploy(revision: string): Promise<void>
  /** Retire one instance (as a scale-in does). */
  retire(instance: Instance): Promise<number | null>
  /** SIGKILL one instance, no SIGTERM. */
  kill(instance: Instance): Promise<number | null>
  /** Stops the front end and every instance (SIGKILL). */
  close(): Promise<void>
}

function clientIp(socket: Socket): string {
  const ip = socket.remoteAddress ?? '0.0.0.0'
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip
}

function affinityOf(req: IncomingMessage): string | undefined {
  const cookie = req.headers.cookie
  if (cookie === undefined) return undefined
  for (const part of cookie.split(';')) {
    const [name, value] = part.trim().split('=')
    if (name === AFFINITY_COOKIE) return value
  }
  return undefined
}

/**
 * An emulated Cloud Run service on loopback: a front end (node:http) in
 * front of `instances` `adit server` processes, applying Cloud Run's rules —
 * request timeout on every request and WebSocket, no affinity (a random
 * instance per request) unless asked, the HTTP/1 body cap (lifted in h2c
 * mode), per-instance concurrency, Google's forwarding and trace headers,
 * and scale events with SIGTERM then SIGKILL.
 */
export async function startCloudRun(input: Partial<CloudRunOptions> = {}): Promise<CloudRun> {
  const options = resolveCloudRunOptions(input)
  const pool = new InstancePool(options)
  const counters: FrontEndCounters = { requests: 0, upgrades: 0, timeouts: 0, upgradeTimeouts: 0, tooLarge: 0, tooMany: 0 }
  let revision = options.revision
  const clients = new Set<Socket>()
  const seenOn = new WeakMap<Socket, { requests: number; lastRequestAt?: number }>()
  const log: FrontEndEntry[] = []
  const entry = (req: IncomingMessage): FrontEndEntry => {
    const e: FrontEndEntry = { start: Date.now(), method: req.method ?? '', url: req.url ?? '' }
    if (log.length >= 50_000) log.shift()
    log.push(e)
    return e
  }

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counters.requests++
    const onSocket = seenOn.get(req.socket) ?? { requests: 0 }
    onSocket.requests++
    onSocket.lastRequestAt = Date.now()
    seenOn.set(req.socket, onSocket)
    const seen = entry(req)
    res.once('close', () => {
      seen.end = Date.now()
      if (res.headersSent) seen.status = res.statusCode
    })
    const declared = Number(req.headers['content-length'] ?? 0)
    if (!options.http2 && declared > options.maxHttp1BodyBytes) {
      counters.tooLarge++
      req.resume()
      return frontEndAnswer(
        res,
        413,
        `request body of ${declared} bytes is over the ${options.maxHttp1BodyBytes}-byte HTTP/1 limit (deploy with --use-http2 to lift it)`,
      )
    }
    const wanted = options.affinity ? affinityOf(req) : undefined
    req.pause()
    const instance = await pool.acquire(wanted)
    if (instance === 'full' || instance === 'none') {
      counters.tooMany++
      req.resume()
      return frontEndAnswer(res, 429, instance === 'full' ? 'every instance is at its concurrency limit' : 'no instance became available')
    }
    seen.instance = instance.name
    res.once('close', () => pool.release(instance))
    const headers = instanceHeaders(req.rawHeaders, clientIp(req.socket), 'http')
    const extra = options.affinity && wanted !== instance.name ? ['set-cookie', `${AFFINITY_COOKIE}=${instance.name}; Path=/; HttpOnly`] : []
    const forwarding = forward(req, res, instance, headers, {
      http2: options.http2,
      maxBodyBytes: options.maxHttp1BodyBytes,
      extraResponseHeaders: extra,
      onHead: (_status, raw) => {
        for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'x-adit-request-id') seen.requestId = raw[i + 1]!
      },
    })
    const timer = setTimeout(() => {
      counters.timeouts++
      forwarding.cut(504, 'upstream request timeout')
    }, options.timeoutMs)
    res.once('close', () => clearTimeout(timer))
    req.resume()
  }

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    counters.upgrades++
    const seen = entry(req)
    socket.once('close', () => (seen.end = Date.now()))
    socket.on('error', () => socket.destroy())
    if (options.http2) {
      // End-to-end HTTP/2 carries a WebSocket only as an RFC 8441 extended CONNECT, which adit's h2c does not take.
      return refuseUpgrade(socket, 502, 'Bad Gateway', 'WebSockets reach an --use-http2 service only as HTTP/2 extended CONNECT (RFC 8441)')
    }
    const instance = await pool.acquire(options.affinity ? affinityOf(req) : undefined)
    if (instance === 'full' || instance === 'none') {
      counters.tooMany++
      return refuseUpgrade(
        socket,
        429,
        'Too Many Requests',
        instance === 'full' ? 'every instance is at its concurrency limit' : 'no instance became available',
      )
    }
    seen.instance = instance.name
    const headers = instanceHeaders(req.rawHeaders, clientIp(req.socket), 'http', { upgrade: req.headers.upgrade ?? 'websocket' })
    const { cut, closed } = forwardUpgrade(req, socket, head, instance, headers)
    const timer = setTimeout(() => {
      counters.upgradeTimeouts++
      cut()
    }, options.timeoutMs)
    void closed.then(() => {
      clearTimeout(timer)
      pool.release(instance)
    })
  }

  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 620_000 })
  server.on('connection', (socket: Socket) => {
    clients.add(socket)
    socket.once('close', () => clients.delete(socket))
  })
  server.on('request', (req, res) => void onRequest(req, res))
  server.on('upgrade', (req, socket, head) => void onUpgrade(req, socket as Duplex, head))
  server.on('clientError', (_error, socket) => socket.destroy())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port

  const retire = (instance: Instance): Promise<number | null> => instance.retire(options.killAfterMs)
  const cloudRun: CloudRun = {
    url: `http://127.0.0.1:${port}`,
    port,
    options,
    pool,
    counters,
    log,
    sockets: () =>
      [...clients].map((socket) => ({
        remotePort: socket.remotePort,
        bytesRead: socket.bytesRead,
        bytesWritten: socket.bytesWritten,
        requests: seenOn.get(socket)?.requests ?? 0,
        lastRequestAt: seenOn.get(socket)?.lastRequestAt,
      })),
    get serving() {
      return pool.serving
    },
    async scaleTo(n) {
      const live = pool.live
      if (live.length < n) await Promise.all(Array.from({ length: n - live.length }, () => pool.add(revision)))
      else await Promise.all(live.slice(n).map(retire))
    },
    async deploy(next) {
      const old = pool.live
      revision = next
      const exits: Array<Promise<unknown>> = []
      for (const instance of old) {
        await pool.add(revision)
        exits.push(retire(instance))
      }
      await Promise.all(exits)
    },
    retire,
    kill: (instance) => instance.kill(),
    async close() {
      for (const socket of clients) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await Promise.all(pool.all.map((i) => i.proc.stop('SIGKILL')))
    },
  }
  try {
    await cloudRun.scaleTo(options.instances)
  } catch (error) {
    await cloudRun.close()
    throw error
  }
  return cloudRun
}
