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
import { H2Origin } from './h2-origin.js'
import { RegistrationError } from './registration.js'
import { loadState, type AgentState } from './state-file.js'
import { deleteTunnel } from './tunnel-admin-client.js'
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

/** What every step shares: the options, the parsed server, and the list of steps so far. */
interface Checkup {
  options: DoctorOptions
  server: URL
  host: string
  port: number
  steps: DoctorStep[]
  add(step: DoctorStep): DoctorStep
}

/** The first line of a server's answer, whole (no cut mid-word); very long ones end at a word with an ellipsis. */
export function firstLine(text: string, max = 300): string {
  const line = text.trim().split('\n')[0] ?? ''
  if (line.length <= max) return line
  const cut = line.lastIndexOf(' ', max)
  return `${line.slice(0, cut > max / 2 ? cut : max)}…`
}

/**
 * `adit doctor`: checks, in order, what an agent needs — the server's name
 * resolves, its certificate is valid, `/healthz` answers and it is adit,
 * `/ws` upgrades (a proxy that strips `Upgrade` is named), the saved
 * credentials are accepted, the clocks agree, the local service answers, and
 * a request makes the round trip through a temporary tunnel (deleted after).
 * Each failure carries the fix to try. Never prints; `onStep` is told each step.
 */
export async function runDoctorChecks(options: DoctorOptions): Promise<DoctorReport> {
  const steps: DoctorStep[] = []
  const add = (step: DoctorStep): DoctorStep => {
    steps.push(step)
    options.onStep?.(step)
    return step
  }
  const done = (): DoctorReport => ({ steps, ok: steps.every((s) => s.status !== 'fail') })
  const server = checkServerUrl(options, add)
  if (server === undefined) return done()
  const c: Checkup = {
    options,
    server,
    host: server.hostname.replace(/^\[|\]$/g, ''),
    port: Number(server.port || (server.protocol === 'https:' ? 443 : 80)),
    steps,
    add,
  }
  if (!(await checkDns(c))) return done()
  if (!(await checkTls(c))) return done()
  const health = await checkHealth(c)
  if (health === undefined) return done()
  checkClock(c, health.serverDate)
  await checkWebSocket(c)
  const state = await checkCredentials(c)
  const local = await checkLocal(c)
  await checkRoundTrip(c, state, local, health.rttMs)
  return done()
}

function checkServerUrl(options: DoctorOptions, add: Checkup['add']): URL | undefined {
  try {
    const server = new URL(options.server)
    if (server.protocol !== 'http:' && server.protocol !== 'https:') throw new Error(`scheme ${server.protocol}`)
    return server
  } catch (error) {
    add({
      name: 'server url',
      status: 'fail',
      detail: `${options.server} is not an http(s) URL (${(error as Error).message})`,
      fix: 'pass the server as https://host[:port], the URL the server prints or its PUBLIC_BASE_URL',
    })
    return undefined
  }
}

// 1. DNS
async function checkDns(c: Checkup): Promise<boolean> {
  const start = process.hrtime.bigint()
  try {
    const addresses = await lookup(c.host, { all: true })
    c.add({ name: 'dns', status: 'pass', detail: `${c.host} → ${addresses.map((a) => a.address).join(', ')}`, ms: elapsed(start) })
    return true
  } catch (error) {
    c.add({
      name: 'dns',
      status: 'fail',
      detail: `${c.host} does not resolve (${errorCode(error)})`,
      fix: `check the spelling of the host; try \`dig ${c.host}\` or \`nslookup ${c.host}\`; a custom domain needs its DNS record (docs/cloud-run.md)`,
      ms: elapsed(start),
    })
    return false
  }
}

// 2. TLS; false stops the checkup (nothing further can work)
async function checkTls(c: Checkup): Promise<boolean> {
  if (c.server.protocol !== 'https:') {
    c.add({ name: 'tls', status: 'skip', detail: 'plain http: no TLS to check (fine on loopback or a private network; use https across the internet)' })
    return true
  }
  const start = process.hrtime.bigint()
  try {
    const tls = await tlsCheck(c.host, c.port, c.options.timeoutMs)
    const until = tls.cert.valid_to ? new Date(tls.cert.valid_to) : undefined
    const days = until ? Math.floor((until.getTime() - Date.now()) / 86_400_000) : undefined
    if (!tls.authorized) {
      c.add({
        name: 'tls',
        status: 'fail',
        detail: `certificate not trusted: ${tls.error ?? 'unknown reason'} (issuer: ${tls.cert.issuer?.O ?? tls.cert.issuer?.CN ?? '?'})`,
        fix: 'a TLS-inspecting proxy or a private CA signed it: point NODE_EXTRA_CA_CERTS at that CA bundle; if the certificate expired or names another host, fix it on the server',
        ms: elapsed(start),
      })
    } else {
      c.add({
        name: 'tls',
        status: days !== undefined && days < 14 ? 'warn' : 'pass',
        detail: `${tls.protocol ?? 'TLS'}, certificate valid${days === undefined ? '' : ` for ${days} more days`}`,
        ...(days !== undefined && days < 14 ? { fix: 'renew the certificate soon' } : {}),
        ms: elapsed(start),
      })
    }
    return true
  } catch (error) {
    c.add({
      name: 'tls',
      status: 'fail',
      detail: `TLS handshake with ${c.host}:${c.port} failed (${errorCode(error)})`,
      fix: 'check the port and that the server (or its load balancer) speaks https there; a firewall may block it',
      ms: elapsed(start),
    })
    return false
  }
}

/**
 * Is it adit that answers? `/healthz` says `ok` on many services; adit also
 * answers `GET /register` with `405 use POST /register`, which passes through
 * any proxy.
 */
async function isAdit(c: Checkup): Promise<{ adit: boolean; seen: string }> {
  const res = await request(new URL('/register', c.server), {
    headersTimeout: c.options.timeoutMs,
    bodyTimeout: c.options.timeoutMs,
    signal: AbortSignal.timeout(c.options.timeoutMs),
  })
  const body = firstLine(await res.body.text())
  return { adit: res.statusCode === 405 && body.startsWith('use POST /register'), seen: `GET /register → ${res.statusCode}${body ? ` ${body}` : ''}` }
}

// 3. /healthz (and the Date header for the clock check)
async function checkHealth(c: Checkup): Promise<{ serverDate: number | undefined; rttMs: number } | undefined> {
  const start = process.hrtime.bigint()
  try {
    const res = await request(new URL('/healthz', c.server), {
      headersTimeout: c.options.timeoutMs,
      bodyTimeout: c.options.timeoutMs,
      signal: AbortSignal.timeout(c.options.timeoutMs),
    })
    const body = firstLine(await res.body.text())
    const rttMs = elapsed(start)
    const date = res.headers.date
    const serverDate = typeof date === 'string' ? Date.parse(date) + rttMs / 2 : undefined
    const notAdit = 'check that --server is the adit server itself (not a load balancer page or another app on that port), and the server logs'
    if (res.statusCode !== 200) {
      c.add({
        name: 'healthz',
        status: 'fail',
        detail: `GET /healthz → ${res.statusCode} ${body}`,
        fix: `the URL answers but not as an adit server: ${notAdit}`,
        ms: rttMs,
      })
      return undefined
    }
    const probe = await isAdit(c)
    if (!probe.adit) {
      c.add({
        name: 'healthz',
        status: 'fail',
        detail: `GET /healthz → 200 ${body}, but this is not an adit server (${probe.seen}, adit answers 405 use POST /register)`,
        fix: `another service answers at ${c.server.origin}: ${notAdit}`,
        ms: rttMs,
      })
      return undefined
    }
    c.add({ name: 'healthz', status: 'pass', detail: `GET /healthz → 200 ${body}; an adit server answers`, ms: rttMs })
    return { serverDate, rttMs }
  } catch (error) {
    const code = errorCode(error)
    const fix =
      code === 'ECONNREFUSED'
        ? `nothing listens on ${c.host}:${c.port}: start the server (adit server) or fix the port in --server`
        : code.includes('TIMEOUT') || code === 'ETIMEDOUT' || code === 'AbortError'
          ? 'no answer in time: a firewall may drop the traffic, or the server is overloaded'
          : 'check the URL and that the server runs; see its logs'
    c.add({ name: 'healthz', status: 'fail', detail: `GET /healthz failed (${code})`, fix, ms: elapsed(start) })
    return undefined
  }
}

// 4. Clock skew (the Date header has one-second resolution)
function checkClock(c: Checkup, serverDate: number | undefined): void {
  if (serverDate === undefined || Number.isNaN(serverDate)) {
    c.add({ name: 'clock', status: 'skip', detail: 'the server sent no Date header' })
    return
  }
  const skew = (Date.now() - serverDate) / 1000
  const abs = Math.abs(skew)
  const detail = `this machine is ${abs < 1.5 ? 'in step with' : `${abs.toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'}`} the server`
  const fix = 'turn on time sync (e.g. `timedatectl set-ntp true`, or chrony/ntpd); tokens and certificates are checked against the clock'
  c.add({ name: 'clock', status: abs <= 5 ? 'pass' : abs <= 60 ? 'warn' : 'fail', detail, ...(abs > 5 ? { fix } : {}) })
}

// 5. /ws upgrades (without credentials an adit server answers 401 before upgrading)
async function checkWebSocket(c: Checkup): Promise<void> {
  const start = process.hrtime.bigint()
  try {
    const answer = await tryUpgrade(new URL('/ws', c.server), {}, c.options.timeoutMs)
    const ms = elapsed(start)
    if (answer.status === 101 || answer.status === 401) {
      c.add({ name: 'websocket', status: 'pass', detail: `GET /ws with Upgrade: websocket → ${answer.status} (the upgrade reaches the server)`, ms })
    } else if (answer.status === 503) {
      c.add({
        name: 'websocket',
        status: 'fail',
        detail: `GET /ws → 503 ${firstLine(answer.body)}`,
        fix: 'the server is draining or its tunnel store is down: retry in a moment; check the server logs and /readyz',
        ms,
      })
    } else {
      c.add({
        name: 'websocket',
        status: 'fail',
        detail: `GET /ws with Upgrade: websocket → ${answer.status} instead of 101/401: something between here and the server does not pass WebSockets (it stripped the Upgrade header)${answer.headers.via ? `; Via: ${String(answer.headers.via)}` : ''}`,
        fix: 'allow WebSocket upgrades on that proxy or load balancer (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"), or bypass it (NO_PROXY); on Cloud Run, do not use --use-http2 on the service that takes /ws',
        ms,
      })
    }
  } catch (error) {
    c.add({
      name: 'websocket',
      status: 'fail',
      detail: `GET /ws failed (${errorCode(error)})`,
      fix: 'a proxy may cut upgrade requests; check it, and the server logs',
      ms: elapsed(start),
    })
  }
}

// 6. Saved credentials: checked, never changed
async function checkCredentials(c: Checkup): Promise<AgentState | null> {
  const { options } = c
  const state = options.stateFile === null ? null : await loadState(options.stateFile, c.server.origin).catch(() => null)
  if (state === null) {
    c.add({
      name: 'credentials',
      status: 'skip',
      detail: `no saved credentials for ${c.server.origin}${options.stateFile ? ` in ${options.stateFile}` : ''}: the agent registers a tunnel on its first start${options.apiKey ? '' : ' (pass --api-key if the server requires one)'}`,
    })
    return null
  }
  const start = process.hrtime.bigint()
  const url = new URL('/ws', c.server)
  url.searchParams.set('id', state.id)
  try {
    const answer = await tryUpgrade(url, { authorization: `Bearer ${state.secret}` }, options.timeoutMs)
    const ms = elapsed(start)
    if (answer.status === 101) c.add({ name: 'credentials', status: 'pass', detail: `tunnel ${state.id}: the server accepts the saved secret`, ms })
    else if (answer.status === 401) {
      c.add({
        name: 'credentials',
        status: 'fail',
        detail: `tunnel ${state.id}: the server refuses the saved secret (${firstLine(answer.body)})`,
        fix: `the server's signing key changed or the tunnel was revoked: the agent registers a new tunnel by itself (new URL), or delete ${options.stateFile} to start over`,
        ms,
      })
    } else
      c.add({ name: 'credentials', status: 'fail', detail: `tunnel ${state.id}: unexpected answer ${answer.status}`, fix: 'see the websocket step above', ms })
  } catch (error) {
    c.add({
      name: 'credentials',
      status: 'fail',
      detail: `could not check the saved credentials (${errorCode(error)})`,
      fix: 'see the websocket step above',
      ms: elapsed(start),
    })
  }
  return state
}

// 7. The local service: its direct round-trip time, or undefined when it does not answer
async function checkLocal(c: Checkup): Promise<number | undefined> {
  const { options } = c
  if (options.local === undefined) {
    c.add({ name: 'local', status: 'skip', detail: 'no --local given' })
    return undefined
  }
  const start = process.hrtime.bigint()
  // An h2c:// service speaks HTTP/2 only: asked the way the agent asks it (undici has no h2c).
  const url = new URL(options.local)
  const h2 = url.protocol === 'h2c:' ? new H2Origin({ url }) : undefined
  try {
    const asked = { headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs, signal: AbortSignal.timeout(options.timeoutMs) }
    const res = h2 === undefined ? await request(options.local, asked) : await h2.request({ method: 'GET', path: '/', ...asked })
    await res.body.dump()
    const directMs = elapsed(start)
    c.add({ name: 'local', status: 'pass', detail: `GET ${options.local} → ${res.statusCode} (any answer counts)`, ms: directMs })
    return directMs
  } catch (error) {
    const code = errorCode(error)
    const fix =
      code === 'ECONNREFUSED'
        ? `nothing listens at ${options.local}: start your service, or point --local at the port it uses`
        : code.includes('CERT') || code.includes('SELF_SIGNED')
          ? 'the service uses a self-signed certificate: run the agent with --local-insecure'
          : `check that the service runs and answers at ${options.local}`
    c.add({ name: 'local', status: 'fail', detail: `GET ${options.local} failed (${code})`, fix, ms: elapsed(start) })
    return undefined
  } finally {
    await h2?.destroy()
  }
}

/**
 * A GET of `publicUrl` sent to the server's own address: under host routing
 * the public name (`{id}.{suffix}`) may not resolve from here (ENOTFOUND),
 * so the request goes to --server with that name as its Host.
 */
async function throughServer(c: Checkup, publicUrl: string): Promise<{ status: number; aditError: string | undefined }> {
  const target = new URL(publicUrl)
  const viaServer = target.host !== c.server.host
  const url = viaServer ? new URL(`${target.pathname}${target.search}`, c.server) : target
  const res = await request(url, {
    ...(viaServer ? { headers: { host: target.host } } : {}),
    headersTimeout: c.options.timeoutMs,
    bodyTimeout: c.options.timeoutMs,
    signal: AbortSignal.timeout(c.options.timeoutMs),
  })
  await res.body.dump()
  const adit = res.headers['x-adit-error']
  return { status: res.statusCode, aditError: typeof adit === 'string' ? adit : undefined }
}

/** Why a temporary tunnel could not be opened → the fix. */
function roundTripFix(error: unknown): string {
  const failure = error instanceof RegistrationError ? error.failure : undefined
  if (failure?.code === 'ADIT_ERR_TOO_MANY_TUNNELS')
    return 'this API key owns as many tunnels as the server allows (ADIT_MAX_TUNNELS_PER_KEY): delete one with `adit tunnels rm` (or `adit tunnels ls` to see them), or ask the operator to raise the cap'
  if (failure?.status === 401 || failure?.status === 403) return 'registration was refused: pass --api-key (or ADIT_API_KEY) with a key the server accepts'
  if (failure?.status === 429) return 'too many registrations from this address (ADIT_REGISTER_RATE): wait for the time in Retry-After, then run doctor again'
  return 'see the steps above and the server logs'
}

// 8. A request through a tunnel, public URL → server → agent → local service
async function checkRoundTrip(c: Checkup, state: AgentState | null, directMs: number | undefined, healthRtt: number): Promise<void> {
  const { options } = c
  if (directMs === undefined || c.steps.some((s) => s.status === 'fail')) {
    c.add({ name: 'round trip', status: 'skip', detail: 'needs the server and the local service to pass first' })
    return
  }
  // Work on a copy of the state file: a refused secret would otherwise make connect() replace the user's.
  const scratch = await mkdtemp(join(tmpdir(), 'adit-doctor-'))
  const start = process.hrtime.bigint()
  let temporary: AgentState | undefined
  try {
    let stateFile: string | null = null
    if (state !== null && options.stateFile !== null) {
      stateFile = join(scratch, 'state.json')
      await copyFile(options.stateFile, stateFile)
    }
    const tunnel = await connect({
      server: c.server.href,
      local: options.local!,
      stateFile,
      apiKey: options.apiKey,
      connections: 1,
      waitForServer: false,
      logger: createLogger({ level: 'silent' }),
    })
    // A tunnel doctor registered itself (not the saved one) is deleted afterwards.
    if (state === null || tunnel.id !== state.id) temporary = tunnel.state
    try {
      const times: number[] = []
      let answer = { status: 0, aditError: undefined as string | undefined }
      for (let i = 0; i < 3; i++) {
        const t = process.hrtime.bigint()
        answer = await throughServer(c, tunnel.publicUrl)
        times.push(elapsed(t))
      }
      times.sort((a, b) => a - b)
      const median = times[1]!
      await tunnel.close()
      const deleted =
        temporary !== undefined &&
        (await deleteTunnel(temporary.server, temporary.id, temporary.secret).then(
          () => true,
          () => false,
        ))
      if (deleted) temporary = undefined
      if (answer.aditError !== undefined) {
        c.add({
          name: 'round trip',
          status: 'fail',
          detail: `GET ${tunnel.publicUrl} → ${answer.status} ${answer.aditError}`,
          fix: 'see docs/errors.md for this code; the server logs the request id',
          ms: elapsed(start),
        })
      } else {
        c.add({
          name: 'round trip',
          status: 'pass',
          detail: `GET ${tunnel.publicUrl} → ${answer.status}; median of 3: ${median} ms through the tunnel, ${directMs} ms direct, ${healthRtt} ms to the server${deleted ? '; temporary tunnel deleted' : ''}`,
          ms: median,
        })
      }
    } finally {
      await tunnel.close()
    }
  } catch (error) {
    c.add({
      name: 'round trip',
      status: 'fail',
      detail: `could not open a tunnel (${errorCode(error)}: ${(error as Error).message})`,
      fix: roundTripFix(error),
      ms: elapsed(start),
    })
  } finally {
    if (temporary !== undefined) await deleteTunnel(temporary.server, temporary.id, temporary.secret).catch(() => {})
    await rm(scratch, { recursive: true, force: true })
  }
}
