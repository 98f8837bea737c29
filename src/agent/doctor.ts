import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type PeerCertificate } from 'node:tls'
import { request } from 'undici'
import { createLogger } from '../observability/logger.js'
import { Subprotocol } from '../protocol/index.js'
import { loadState } from './state-file.js'
import { connect } from './tunnel.js'

export type StepStatus = 'pass' | 'warn' | 'fail' | 'skip'

/** One check's outcome: what was seen and, when it failed, the fix to try. */
export interface DoctorStep {
  name: 'server url' | 'dns' | 'tls' | 'healthz' | 'clock' | 'websocket' | 'credentials' | 'local' | 'round trip'
  status: StepStatus
  detail: string
  fix?: string
  ms?: number
}

export interface DoctorOptions {
  server: string
  local: string | undefined
  apiKey: string | undefined
  /** The agent's state file (saved id and secret); its credentials are checked, never changed. */
  stateFile: string | null
  /** Per-step time limit (ms). */
  timeoutMs: number
  /** Told each step as it finishes (the CLI prints them). */
  onStep?: (step: DoctorStep) => void
}

export interface DoctorReport {
  steps: DoctorStep[]
  ok: boolean
}

const elapsed = (start: bigint): number => Math.round(Number(process.hrtime.bigint() - start) / 1e5) / 10

/** What an attempted WebSocket upgrade came back with. */
interface UpgradeAnswer {
  status: number
  body: string
  headers: IncomingMessage['headers']
}

/** Sends a WebSocket upgrade request and reports the status (101 closes the socket at once). */
function tryUpgrade(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<UpgradeAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(url, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': Subprotocol.V2,
        ...headers,
      },
      agent: false,
      timeout: timeoutMs,
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 101, body: '', headers: res.headers })
    })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        if (body.length < 300) body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), headers: res.headers }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.end()
  })
}

function tlsCheck(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ authorized: boolean; error?: string; cert: PeerCertificate; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, timeout: timeoutMs }, () => {
      const cert = socket.getPeerCertificate()
      const result = {
        authorized: socket.authorized,
        cert,
        protocol: socket.getProtocol(),
        ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
      }
      socket.end()
      resolve(result)
    })
    socket.on('timeout', () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    socket.on('error', reject)
  })
}

function errorCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string }; message?: string }
  return e.code ?? e.cause?.code ?? e.message ?? String(error)
}

/**
 * `adit doctor`: checks, in order, what an agent needs — the server's name
 * resolves, its certificate is valid, `/healthz` answers, `/ws` upgrades (a
 * proxy that strips `Upgrade` is named), the saved credentials are accepted,
 * the clocks agree, the local service answers, and a request makes the round
 * trip through a tunnel. Each failure carries the fix to try. Never prints;
 * `onStep` is told each step.
 */
export async function runDoctorChecks(options: DoctorOptions): Promise<DoctorReport> {
  const steps: DoctorStep[] = []
  const add = (step: DoctorStep): DoctorStep => {
    steps.push(step)
    options.onStep?.(step)
    return step
  }
  const done = (): DoctorReport => ({ steps, ok: steps.every((s) => s.status !== 'fail') })

  let server: URL
  try {
    server = new URL(options.server)
    if (server.protocol !== 'http:' && server.protocol !== 'https:') throw new Error(`scheme ${server.protocol}`)
  } catch (error) {
    add({
      name: 'server url',
      status: 'fail',
      detail: `${options.server} is not an http(s) URL (${(error as Error).message})`,
      fix: 'pass the server as https://host[:port], the URL the server prints or its PUBLIC_BASE_URL',
    })
    return done()
  }
  const host = server.hostname.replace(/^\[|\]$/g, '')
  const port = Number(server.port || (server.protocol === 'https:' ? 443 : 80))

  // 1. DNS
  let start = process.hrtime.bigint()
  try {
    const addresses = await lookup(host, { all: true })
    add({ name: 'dns', status: 'pass', detail: `${host} → ${addresses.map((a) => a.address).join(', ')}`, ms: elapsed(start) })
  } catch (error) {
    add({
      name: 'dns',
      status: 'fail',
      detail: `${host} does not resolve (${errorCode(error)})`,
      fix: `check the spelling of the host; try \`dig ${host}\` or \`nslookup ${host}\`; a custom domain needs its DNS record (docs/cloud-run.md)`,
      ms: elapsed(start),
    })
    return done()
  }

  // 2. TLS
  if (server.protocol === 'https:') {
    start = process.hrtime.bigint()
    try {
      const tls = await tlsCheck(host, port, options.timeoutMs)
      const until = tls.cert.valid_to ? new Date(tls.cert.valid_to) : undefined
      const days = until ? Math.floor((until.getTime() - Date.now()) / 86_400_000) : undefined
      if (!tls.authorized) {
        add({
          name: 'tls',
          status: 'fail',
          detail: `certificate not trusted: ${tls.error ?? 'unknown reason'} (issuer: ${tls.cert.issuer?.O ?? tls.cert.issuer?.CN ?? '?'})`,
          fix: 'a TLS-inspecting proxy or a private CA signed it: point NODE_EXTRA_CA_CERTS at that CA bundle; if the certificate expired or names another host, fix it on the server',
          ms: elapsed(start),
        })
      } else {
        add({
          name: 'tls',
          status: days !== undefined && days < 14 ? 'warn' : 'pass',
          detail: `${tls.protocol ?? 'TLS'}, certificate valid${days === undefined ? '' : ` for ${days} more days`}`,
          ...(days !== undefined && days < 14 ? { fix: 'renew the certificate soon' } : {}),
          ms: elapsed(start),
        })
      }
    } catch (error) {
      add({
        name: 'tls',
        status: 'fail',
        detail: `TLS handshake with ${host}:${port} failed (${errorCode(error)})`,
        fix: 'check the port and that the server (or its load balancer) speaks https there; a firewall may block it',
        ms: elapsed(start),
      })
      return done()
    }
  } else {
    add({ name: 'tls', status: 'skip', detail: 'plain http: no TLS to check (fine on loopback or a private network; use https across the internet)' })
  }

  // 3. /healthz (and the Date header for the clock check)
  start = process.hrtime.bigint()
  let serverDate: number | undefined
  let healthRtt = 0
  try {
    const res = await request(new URL('/healthz', server), {
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    })
    const body = (await res.body.text()).trim()
    healthRtt = elapsed(start)
    const date = res.headers.date
    if (typeof date === 'string') serverDate = Date.parse(date) + healthRtt / 2
    if (res.statusCode === 200) add({ name: 'healthz', status: 'pass', detail: `GET /healthz → 200 ${body.slice(0, 40)}`, ms: healthRtt })
    else {
      add({
        name: 'healthz',
        status: 'fail',
        detail: `GET /healthz → ${res.statusCode} ${body.slice(0, 80)}`,
        fix: 'the URL answers but not as an adit server: check that --server is the adit server itself (not a load balancer page or another app), and the server logs',
        ms: healthRtt,
      })
      return done()
    }
  } catch (error) {
    const code = errorCode(error)
    const fix =
      code === 'ECONNREFUSED'
        ? `nothing listens on ${host}:${port}: start the server (adit server) or fix the port in --server`
        : code.includes('TIMEOUT') || code === 'ETIMEDOUT' || code === 'AbortError'
          ? 'no answer in time: a firewall may drop the traffic, or the server is overloaded'
          : 'check the URL and that the server runs; see its logs'
    add({ name: 'healthz', status: 'fail', detail: `GET /healthz failed (${code})`, fix, ms: elapsed(start) })
    return done()
  }

  // 4. Clock skew (the Date header has one-second resolution)
  if (serverDate === undefined || Number.isNaN(serverDate)) {
    add({ name: 'clock', status: 'skip', detail: 'the server sent no Date header' })
  } else {
    const skew = (Date.now() - serverDate) / 1000
    const abs = Math.abs(skew)
    const detail = `this machine is ${abs < 1.5 ? 'in step with' : `${abs.toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'}`} the server`
    const fix = 'turn on time sync (e.g. `timedatectl set-ntp true`, or chrony/ntpd); tokens and certificates are checked against the clock'
    add({ name: 'clock', status: abs <= 5 ? 'pass' : abs <= 60 ? 'warn' : 'fail', detail, ...(abs > 5 ? { fix } : {}) })
  }

  // 5. /ws upgrades (without credentials an adit server answers 401 before upgrading)
  const wsUrl = new URL('/ws', server)
  start = process.hrtime.bigint()
  try {
    const answer = await tryUpgrade(wsUrl, {}, options.timeoutMs)
    const ms = elapsed(start)
    if (answer.status === 101 || answer.status === 401) {
      add({ name: 'websocket', status: 'pass', detail: `GET /ws with Upgrade: websocket → ${answer.status} (the upgrade reaches the server)`, ms })
    } else if (answer.status === 503) {
      add({
        name: 'websocket',
        status: 'fail',
        detail: `GET /ws → 503 ${answer.body.slice(0, 80)}`,
        fix: 'the server is draining or its tunnel store is down: retry in a moment; check the server logs and /readyz',
        ms,
      })
    } else {
      add({
        name: 'websocket',
        status: 'fail',
        detail: `GET /ws with Upgrade: websocket → ${answer.status} instead of 101/401: something between here and the server does not pass WebSockets (it stripped the Upgrade header)${answer.headers.via ? `; Via: ${String(answer.headers.via)}` : ''}`,
        fix: 'allow WebSocket upgrades on that proxy or load balancer (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"), or bypass it (NO_PROXY); on Cloud Run, do not use --use-http2 on the service that takes /ws',
        ms,
      })
    }
  } catch (error) {
    add({
      name: 'websocket',
      status: 'fail',
      detail: `GET /ws failed (${errorCode(error)})`,
      fix: 'a proxy may cut upgrade requests; check it, and the server logs',
      ms: elapsed(start),
    })
  }

  // 6. Saved credentials
  const state = options.stateFile === null ? null : await loadState(options.stateFile, server.origin).catch(() => null)
  if (state === null) {
    add({
      name: 'credentials',
      status: 'skip',
      detail: `no saved credentials for ${server.origin}${options.stateFile ? ` in ${options.stateFile}` : ''}: the agent registers a tunnel on its first start${options.apiKey ? '' : ' (pass --api-key if the server requires one)'}`,
    })
  } else {
    start = process.hrtime.bigint()
    const url = new URL(wsUrl)
    url.searchParams.set('id', state.id)
    try {
      const answer = await tryUpgrade(url, { authorization: `Bearer ${state.secret}` }, options.timeoutMs)
      const ms = elapsed(start)
      if (answer.status === 101) add({ name: 'credentials', status: 'pass', detail: `tunnel ${state.id}: the server accepts the saved secret`, ms })
      else if (answer.status === 401) {
        add({
          name: 'credentials',
          status: 'fail',
          detail: `tunnel ${state.id}: the server refuses the saved secret (${answer.body.slice(0, 80)})`,
          fix: `the server's signing key changed or the tunnel was revoked: the agent registers a new tunnel by itself (new URL), or delete ${options.stateFile} to start over`,
          ms,
        })
      } else
        add({ name: 'credentials', status: 'fail', detail: `tunnel ${state.id}: unexpected answer ${answer.status}`, fix: 'see the websocket step above', ms })
    } catch (error) {
      add({
        name: 'credentials',
        status: 'fail',
        detail: `could not check the saved credentials (${errorCode(error)})`,
        fix: 'see the websocket step above',
        ms: elapsed(start),
      })
    }
  }

  // 7. The local service
  let localOk = false
  let directMs = 0
  if (options.local === undefined) {
    add({ name: 'local', status: 'skip', detail: 'no --local given' })
  } else {
    start = process.hrtime.bigint()
    try {
      const res = await request(options.local, {
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: AbortSignal.timeout(options.timeoutMs),
      })
      await res.body.dump()
      directMs = elapsed(start)
      localOk = true
      add({ name: 'local', status: 'pass', detail: `GET ${options.local} → ${res.statusCode} (any answer counts)`, ms: directMs })
    } catch (error) {
      const code = errorCode(error)
      const fix =
        code === 'ECONNREFUSED'
          ? `nothing listens at ${options.local}: start your service, or point --local at the port it uses`
          : code.includes('CERT') || code.includes('SELF_SIGNED')
            ? 'the service uses a self-signed certificate: run the agent with --local-insecure'
            : `check that the service runs and answers at ${options.local}`
      add({ name: 'local', status: 'fail', detail: `GET ${options.local} failed (${code})`, fix, ms: elapsed(start) })
    }
  }

  // 8. A request through a tunnel, public URL → server → agent → local service
  const serverOk = steps.every((s) => s.status !== 'fail')
  if (!localOk || !serverOk) {
    add({ name: 'round trip', status: 'skip', detail: 'needs the server and the local service to pass first' })
    return done()
  }
  // Work on a copy of the state file: a refused secret would otherwise make connect() replace the user's.
  const scratch = await mkdtemp(join(tmpdir(), 'adit-doctor-'))
  start = process.hrtime.bigint()
  try {
    let stateFile: string | null = null
    if (state !== null && options.stateFile !== null) {
      stateFile = join(scratch, 'state.json')
      await copyFile(options.stateFile, stateFile)
    }
    const tunnel = await connect({
      server: server.href,
      local: options.local!,
      stateFile,
      apiKey: options.apiKey,
      connections: 1,
      logger: createLogger({ level: 'silent' }),
    })
    try {
      const times: number[] = []
      let status = 0
      let error: string | undefined
      for (let i = 0; i < 3; i++) {
        const t = process.hrtime.bigint()
        const res = await request(tunnel.publicUrl, {
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
          signal: AbortSignal.timeout(options.timeoutMs),
        })
        await res.body.dump()
        times.push(elapsed(t))
        status = res.statusCode
        const adit = res.headers['x-adit-error']
        if (typeof adit === 'string') error = adit
      }
      times.sort((a, b) => a - b)
      const median = times[1]!
      if (error !== undefined) {
        add({
          name: 'round trip',
          status: 'fail',
          detail: `GET ${tunnel.publicUrl} → ${status} ${error}`,
          fix: 'see docs/errors.md for this code; the server logs the request id',
          ms: elapsed(start),
        })
      } else {
        add({
          name: 'round trip',
          status: 'pass',
          detail: `GET ${tunnel.publicUrl} → ${status}; median of 3: ${median} ms through the tunnel, ${directMs} ms direct, ${healthRtt} ms to the server`,
          ms: median,
        })
      }
    } finally {
      await tunnel.close()
    }
  } catch (error) {
    const code = errorCode(error)
    add({
      name: 'round trip',
      status: 'fail',
      detail: `could not open a tunnel (${code}: ${(error as Error).message?.slice(0, 120)})`,
      fix:
        code === 'ADIT_ERR_REGISTRATION'
          ? 'registration was refused: pass --api-key (or ADIT_API_KEY) with a key the server accepts'
          : 'see the steps above and the server logs',
      ms: elapsed(start),
    })
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
  return done()
}
