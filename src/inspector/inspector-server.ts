/**
 * The agent's local inspector: a small node:http server on loopback that
 * serves one page and a JSON API over the RequestLog.
 *
 *   GET  /                         the UI (page, script and style from ui/)
 *   GET  /api/info                 limits, URLs and whether replay is possible
 *   GET  /api/requests             rows, newest first; ?status=4xx&method=GET&q=text&limit=N
 *   GET  /api/requests.har         HAR 1.2 export; credentials redacted unless ?redact=false
 *   GET  /api/requests/:id         one exchange with headers and bodies
 *   POST /api/requests/:id/replay  send it again, body = optional JSON edits → the new exchange
 *   DELETE /api/requests           forget every row
 *   GET  /api/events               server-sent events: added / updated / removed rows
 *
 * Every request passes the RequestGuard first (Host, exact Origin,
 * Sec-Fetch-Site), then the per-run token (inspector-token.ts): the page and
 * every API route need it; only the static script and style do not.
 *
 * @example
 * const log = new RequestLog()
 * const inspector = await startInspector({ log, replay, port: 0 })
 * console.log(inspector.url) // http://127.0.0.1:<port>/
 */
import { createRequire } from 'node:module'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { http } from '../http/node-http.js'
import type { AddressInfo } from 'node:net'
import { viewBody, type BodyView } from './body-view.js'
import { InspectorError, InspectorErrorCode } from './errors.js'
import { EventStream } from './event-stream.js'
import { buildHar, defaultRedactedHeaders } from './har.js'
import { RequestGuard } from './request-guard.js'
import { InspectorToken } from './inspector-token.js'
import { RequestLog, summarize, type ExchangeRecord, type ExchangeSummary } from './request-log.js'
import { parseReplayEdits, runReplay, type ReplayFunction } from './replay.js'
import { inspectorPage } from './ui/page.js'
import { inspectorScript } from './ui/script.js'
import { inspectorStyle } from './ui/style.js'

export interface InspectorOptions {
  /** Address to listen on. Loopback by default; anything else exposes your traffic to the network. */
  host: string
  /** 0 picks a free port. */
  port: number
  /** The log the agent feeds (it is the agent's ExchangeObserver). Required. */
  log: RequestLog | undefined
  /** Sends a request to the local service again; without it the Replay buttons are disabled. */
  replay: ReplayFunction | undefined
  /**
   * true when `replay` goes through the agent's forwarder, which records the
   * new exchange through the observer and returns its `exchangeId`; false when
   * the inspector must record the result itself. See replay.ts.
   */
  replayIsObserved: boolean
  /** The tunnel's public URL, used for "Copy as curl" and HAR URLs when known. */
  publicUrl: string | undefined
  /** The local service's URL, used when there is no public URL. */
  targetUrl: string
  /** Header names redacted in HAR exports on top of Authorization, Proxy-Authorization, Cookie and Set-Cookie. */
  redactHeaders: string[]
  /** Host names accepted besides loopback and `host` (e.g. a name mapped to 127.0.0.1 in /etc/hosts). */
  allowedHosts: string[]
  /** Largest replay-edits body accepted. */
  maxEditBytes: number
  /** Largest body decompressed for display (gzip, deflate, br). */
  maxDecodedBytes: number
  heartbeatMs: number
  /** An event-stream client with more unsent bytes than this is dropped (it reconnects). */
  maxEventBufferedBytes: number
  /** The token the page and API require (16+ characters); undefined: a fresh random one per run, in `url`. */
  token: string | undefined
}

export const inspectorDefaults: InspectorOptions = {
  host: '127.0.0.1',
  port: 4040,
  log: undefined,
  replay: undefined,
  replayIsObserved: false,
  publicUrl: undefined,
  targetUrl: 'http://localhost',
  redactHeaders: [],
  allowedHosts: [],
  maxEditBytes: 8 * 1024 * 1024,
  maxDecodedBytes: 4 * 1024 * 1024,
  heartbeatMs: 15_000,
  maxEventBufferedBytes: 1024 * 1024,
  token: undefined,
}

function badOption(name: string, expected: string, value: unknown): InspectorError {
  return new InspectorError(
    InspectorErrorCode.BAD_OPTION,
    `inspector option ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
  )
}

export function validateInspectorOptions(input: Partial<InspectorOptions>): InspectorOptions & { log: RequestLog } {
  const options = { ...inspectorDefaults, ...input }
  if (!(options.log instanceof RequestLog)) throw badOption('log', 'a RequestLog', options.log)
  if (typeof options.host !== 'string' || options.host === '') throw badOption('host', 'an address', options.host)
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw badOption('port', 'an integer from 0 to 65535', options.port)
  if (options.replay !== undefined && typeof options.replay !== 'function') throw badOption('replay', 'a function', options.replay)
  if (typeof options.replayIsObserved !== 'boolean') throw badOption('replayIsObserved', 'a boolean', options.replayIsObserved)
  for (const name of ['publicUrl', 'targetUrl'] as const) {
    const value = options[name]
    if (value === undefined && name === 'publicUrl') continue
    if (typeof value !== 'string' || !URL.canParse(value)) throw badOption(name, 'an absolute URL', value)
  }
  for (const name of ['redactHeaders', 'allowedHosts'] as const) {
    const value = options[name]
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) throw badOption(name, 'an array of names', value)
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16))
    throw badOption('token', 'at least 16 characters', '(hidden)')
  for (const name of ['maxEditBytes', 'maxDecodedBytes', 'heartbeatMs', 'maxEventBufferedBytes'] as const) {
    const value = options[name]
    if (!Number.isSafeInteger(value) || value <= 0) throw badOption(name, 'a positive integer', value)
  }
  return options as InspectorOptions & { log: RequestLog }
}

export interface Inspector {
  /** http://host:port/?token=… — where to point a browser (the token is this run's). */
  readonly url: string
  /** http://host:port/ — the base of the API, which needs `token`. */
  readonly baseUrl: string
  /** This run's token: `X-Adit-Inspector-Token` or `Authorization: Bearer` for API clients. */
  readonly token: string
  readonly port: number
  readonly server: Server
  /** Sets the tunnel's public URL once known (it is only known after the agent connects, and changes if it re-registers). */
  setPublicUrl(url: string | undefined): void
  close(): Promise<void>
}

/** Everything GET /api/requests/:id returns. */
export interface ExchangeDetail extends ExchangeSummary {
  exchangeId: string
  requestId: string | undefined
  tunnelId: string
  requestHeaders: Array<[string, string]>
  responseHeaders: Array<[string, string]>
  requestBody: BodyView
  responseBody: BodyView
}

const version = readVersion()

function readVersion(): string {
  // The package root: from dist/src/inspector/, or from the bundled CLI in dist/cli/ (scripts/bundle-cli.mjs).
  const require = createRequire(import.meta.url)
  for (const path of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = require(path) as { name?: unknown; version?: unknown }
      if (pkg.name === 'adit-tunnel' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // Not this one.
    }
  }
  return '0.0.0'
}

const errorStatus: Record<InspectorErrorCode, number> = {
  ADIT_ERR_INSPECTOR_OPTION: 500,
  ADIT_ERR_INSPECTOR_NOT_FOUND: 404,
  ADIT_ERR_INSPECTOR_HOST: 403,
  ADIT_ERR_INSPECTOR_ORIGIN: 403,
  ADIT_ERR_INSPECTOR_TOKEN: 401,
  ADIT_ERR_INSPECTOR_BAD_EDIT: 400,
  ADIT_ERR_INSPECTOR_EDIT_TOO_LARGE: 413,
  ADIT_ERR_INSPECTOR_BODY_INCOMPLETE: 409,
  ADIT_ERR_INSPECTOR_REPLAY_UNAVAILABLE: 501,
  ADIT_ERR_INSPECTOR_REPLAY_FAILED: 502,
  ADIT_ERR_INSPECTOR_NO_ROUTE: 404,
}

const securityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

const pageHeaders = {
  ...securityHeaders,
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'cache-control': 'no-cache',
}

function send(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = securityHeaders): void {
  res.writeHead(status, { ...extra, 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), { ...securityHeaders, 'cache-control': 'no-store' })
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let length = 0
    req.on('data', (chunk: Buffer) => {
      length += chunk.length
      // Past the limit the rest is read and dropped, so the 413 can still be sent on this socket.
      if (length <= limit) chunks.push(chunk)
    })
    req.on('end', () => {
      if (length > limit) reject(new InspectorError(InspectorErrorCode.EDIT_TOO_LARGE, `replay edits are limited to ${limit} bytes`))
      else resolve(Buffer.concat(chunks).toString('utf8'))
    })
    req.on('error', reject)
  })
}

export function describeExchange(record: ExchangeRecord, maxDecodedBytes: number): ExchangeDetail {
  return {
    ...summarize(record),
    exchangeId: record.exchangeId,
    requestId: record.requestId,
    tunnelId: record.tunnelId,
    requestHeaders: record.requestHeaders,
    responseHeaders: record.responseHeaders,
    requestBody: viewBody(record.request, record.requestHeaders, maxDecodedBytes),
    responseBody: viewBody(record.response, record.responseHeaders, maxDecodedBytes),
  }
}

/** Starts the inspector; resolves once it is listening. */
export async function startInspector(input: Partial<InspectorOptions>): Promise<Inspector> {
  const options = validateInspectorOptions(input)
  const { log } = options
  const guard = new RequestGuard(options.host, options.allowedHosts)
  const events = new EventStream(log, { heartbeatMs: options.heartbeatMs, maxBufferedBytes: options.maxEventBufferedBytes })
  const redact = new Set([...defaultRedactedHeaders, ...options.redactHeaders.map((name) => name.toLowerCase())])

  function find(encodedId: string): ExchangeRecord {
    let id: string
    try {
      id = decodeURIComponent(encodedId)
    } catch {
      id = encodedId
    }
    const record = log.get(id)
    if (record === undefined) throw new InspectorError(InspectorErrorCode.NOT_FOUND, `no request ${id} in the inspector (it may have been evicted)`)
    return record
  }

  let access: InspectorToken | undefined

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://inspector.invalid')
    const path = url.pathname
    const method = req.method ?? 'GET'
    const page = path === '/' || path === '/index.html'
    guard.check(req, !page)
    if ((method === 'GET' || method === 'HEAD') && path === '/ui/app.js') return send(res, 200, 'text/javascript; charset=utf-8', inspectorScript, pageHeaders)
    if ((method === 'GET' || method === 'HEAD') && path === '/ui/app.css') return send(res, 200, 'text/css; charset=utf-8', inspectorStyle, pageHeaders)
    const verdict = access?.check(req, url, page && (method === 'GET' || method === 'HEAD')) ?? { kind: 'denied' }
    if (verdict.kind === 'redirect') {
      res.writeHead(303, { ...securityHeaders, location: verdict.location, 'set-cookie': verdict.cookie, 'cache-control': 'no-store', 'content-length': 0 })
      res.end()
      return
    }
    if (verdict.kind === 'denied') {
      if (page) {
        const text = 'the inspector needs its token: open the URL the agent printed (http://…/?token=…), or send X-Adit-Inspector-Token\n'
        return send(res, 401, 'text/plain; charset=utf-8', text, { ...securityHeaders, 'cache-control': 'no-store' })
      }
      throw new InspectorError(
        InspectorErrorCode.TOKEN_REQUIRED,
        "the inspector's API needs this run's token: open the URL the agent printed (?token=…), or send X-Adit-Inspector-Token / Authorization: Bearer",
      )
    }
    if (method === 'GET' || method === 'HEAD') {
      if (page) return send(res, 200, 'text/html; charset=utf-8', inspectorPage, pageHeaders)
      if (path === '/api/info') {
        return sendJson(res, 200, {
          version,
          publicUrl: options.publicUrl,
          targetUrl: options.targetUrl,
          replay: options.replay !== undefined,
          limits: log.options,
          redactHeaders: [...redact],
        })
      }
      if (path === '/api/events') return events.attach(res)
      if (path === '/api/requests') {
        const limit = Number(url.searchParams.get('limit') ?? '')
        const rows = log.list({
          status: url.searchParams.get('status') ?? undefined,
          method: url.searchParams.get('method') ?? undefined,
          q: url.searchParams.get('q') ?? undefined,
          limit: Number.isInteger(limit) && limit > 0 ? limit : undefined,
        })
        return sendJson(res, 200, { requests: rows.map(summarize), total: log.size, retainedBodyBytes: log.retainedBodyBytes })
      }
      if (path === '/api/requests.har') {
        const records = log.list().reverse()
        const har = buildHar(records, {
          baseUrl: options.publicUrl ?? options.targetUrl,
          redactHeaders: url.searchParams.get('redact') === 'false' ? new Set() : redact,
          creatorVersion: version,
          maxDecodedBytes: options.maxDecodedBytes,
        })
        const stamp = new Date().toISOString().replace(/[:.]/g, '-')
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(har, null, 2), {
          ...securityHeaders,
          'cache-control': 'no-store',
          'content-disposition': `attachment; filename="adit-${stamp}.har"`,
        })
      }
      const detail = /^\/api\/requests\/([^/]+)$/.exec(path)
      if (detail !== null) return sendJson(res, 200, describeExchange(find(detail[1] as string), options.maxDecodedBytes))
    }
    if (method === 'POST') {
      const replay = /^\/api\/requests\/([^/]+)\/replay$/.exec(path)
      if (replay !== null) {
        const original = find(replay[1] as string)
        const edits = parseReplayEdits(await readBody(req, options.maxEditBytes))
        const record = await runReplay(log, original, edits, options.replay, options.replayIsObserved)
        return sendJson(res, 201, describeExchange(record, options.maxDecodedBytes))
      }
    }
    if (method === 'DELETE' && path === '/api/requests') {
      log.clear()
      res.writeHead(204, securityHeaders)
      res.end()
      return
    }
    throw new InspectorError(InspectorErrorCode.NO_ROUTE, `no route for ${method} ${path}`)
  }

  function fail(res: ServerResponse, error: unknown): void {
    const known = error instanceof InspectorError
    const code = known ? error.code : 'ADIT_ERR_INSPECTOR_INTERNAL'
    const status = known ? errorStatus[error.code] : 500
    const message = known ? error.message : 'the inspector hit an unexpected error'
    if (res.headersSent) {
      res.destroy()
      return
    }
    sendJson(res, status, { error: { code, message } })
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((error: unknown) => fail(res, error))
  })
  server.on('clientError', (_error, socket) => socket.destroy())

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  access = new InspectorToken(address.port, options.token)
  const urlHost = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address
  const baseUrl = `http://${urlHost}:${address.port}/`
  let closing: Promise<void> | undefined
  return {
    url: `${baseUrl}?token=${access.token}`,
    baseUrl,
    token: access.token,
    port: address.port,
    server,
    setPublicUrl(url) {
      if (url !== undefined && !URL.canParse(url)) throw badOption('publicUrl', 'an absolute URL', url)
      options.publicUrl = url
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        events.close()
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}
