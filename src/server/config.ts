import { ConfigError } from '../errors.js'
import type { Cluster } from '../cluster/types.js'
import type { Logger } from '../observability/logger.js'
import type { SecurityOptions } from './security/security-options.js'
import { resolveRelayOptions, type RelayOptions } from './relay/relay-options.js'
import { checkTlsIdentity, type TlsIdentity } from './tls-identity.js'

export interface ServerOptions {
  /** Address to listen on. */
  host: string
  /** Port; 0 picks a free one. */
  port: number
  /** Base of public URLs (`https://tunnel.example.com`); else taken from each request's Host and X-Forwarded-Proto. */
  publicBaseUrl: string | undefined
  /** Signing keys for tunnel credentials; the first signs. Empty: one is made at start (tunnels do not survive a restart). */
  signingKeys: string[]
  /** Time an agent and its service have to send a response head (ms). */
  responseTimeoutMs: number
  /** Time allowed for a public client to send its request headers (ms, slowloris guard). */
  headersTimeoutMs: number
  /** Idle keep-alive time of public connections (ms). */
  keepAliveTimeoutMs: number
  /** Largest request head a public client may send (bytes): 431 beyond. */
  maxHeaderBytes: number
  /** Largest WebSocket message an agent may send (bytes). */
  maxFrameBytes: number
  /** Largest request body buffered for an `adit.json.v1` agent (bytes): 413 beyond. */
  maxJsonBodyBytes: number
  /** Interval of WebSocket pings to agents; a connection that misses one is closed (ms). */
  heartbeatMs: number
  /** Trust X-Forwarded-* from the peer (behind Cloud Run's front end or another proxy). */
  trustProxy: boolean
  /** How long a public request waits for a reconnecting agent before 503 (ms). */
  holdTimeoutMs: number
  /** A tunnel whose agent left less than this long ago counts as reconnecting: its requests are held (ms). */
  holdWindowMs: number
  /** Wildcard domain for host routing: `{id}.{suffix}` reaches tunnel `id` with no prefix. */
  publicHostSuffix: string | undefined
  /** ADIT_ADMIN_TOKEN: turns on GET /dashboard (and /dashboard/api) for whoever holds it; undefined: no dashboard. */
  adminToken: string | undefined
  /** Time SIGTERM gives streams in flight before the process exits (ms). */
  drainTimeoutMs: number
  /** Serve Prometheus metrics at `/metrics`. */
  metrics: boolean
  /** When set, `/metrics` requires `Authorization: Bearer <token>`. */
  metricsToken: string | undefined
  /** Google Cloud project id: access lines get `logging.googleapis.com/trace` = `projects/<id>/traces/<trace id>`. */
  traceProject: string | undefined
  /** Also accept HTTP/2 with prior knowledge (h2c) on the public port, for Cloud Run's `--use-http2`. */
  h2c: boolean
  /**
   * Terminate TLS here with this certificate and key (PEM): the port then
   * speaks HTTPS only, HTTP/1.1 and HTTP/2 chosen by ALPN (`h2c` does not
   * apply). Undefined: cleartext (TLS is terminated in front, as on Cloud Run).
   */
  tls: TlsIdentity | undefined
  /**
   * The request timeout of the front end in front of this server (Cloud Run's
   * `--timeout`), which cuts every request, an agent's WebSocket included
   * (ms). Told to agents on the /ws upgrade (`Adit-Service-Timeout-Ms`) so
   * they replace each connection at about half of it. Undefined: none known.
   */
  serviceTimeoutMs: number | undefined
  cluster: Cluster | undefined
  /** Presence, relay and cluster-call bounds, when `cluster` is given (see relay/relay-options.ts). */
  relay: Partial<RelayOptions> | undefined
  logger: Logger | undefined
  /** Registration auth, limits and tunnel lifetime; checked by resolveSecurityOptions. */
  security: Partial<SecurityOptions> | undefined
}

export const serverDefaults: ServerOptions = {
  host: '0.0.0.0',
  port: 8080,
  publicBaseUrl: undefined,
  signingKeys: [],
  responseTimeoutMs: 30_000,
  headersTimeoutMs: 20_000,
  keepAliveTimeoutMs: 65_000,
  maxHeaderBytes: 16 * 1024,
  maxFrameBytes: 1024 * 1024,
  maxJsonBodyBytes: 32 * 1024 * 1024,
  heartbeatMs: 25_000,
  trustProxy: false,
  holdTimeoutMs: 10_000,
  holdWindowMs: 30_000,
  publicHostSuffix: undefined,
  adminToken: undefined,
  drainTimeoutMs: 8_000,
  metrics: true,
  metricsToken: undefined,
  traceProject: undefined,
  h2c: false,
  tls: undefined,
  serviceTimeoutMs: undefined,
  cluster: undefined,
  relay: undefined,
  logger: undefined,
  security: undefined,
}

function positiveInt(options: Record<string, unknown>, name: string, min: number): void {
  const value = options[name]
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(`server option ${name} must be an integer ≥ ${min}, got ${String(value)}`)
  }
}

/** Fills defaults and checks every option, naming the bad one. */
export function resolveServerOptions(input: Partial<ServerOptions> = {}): ServerOptions {
  const options: ServerOptions = { ...serverDefaults }
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value
  }
  const record = options as unknown as Record<string, unknown>
  positiveInt(record, 'port', 0)
  if (options.port > 65535) throw new ConfigError(`server option port must be ≤ 65535, got ${options.port}`)
  positiveInt(record, 'responseTimeoutMs', 1)
  positiveInt(record, 'headersTimeoutMs', 1)
  positiveInt(record, 'keepAliveTimeoutMs', 1)
  positiveInt(record, 'maxHeaderBytes', 1024)
  positiveInt(record, 'maxFrameBytes', 64 * 1024 + 5)
  positiveInt(record, 'maxJsonBodyBytes', 0)
  positiveInt(record, 'heartbeatMs', 100)
  positiveInt(record, 'drainTimeoutMs', 0)
  if (options.metricsToken !== undefined && options.metricsToken.length < 16)
    throw new ConfigError('server option metricsToken (ADIT_METRICS_TOKEN) must be at least 16 characters')
  if (options.traceProject !== undefined && !/^[a-z0-9][a-z0-9.:-]{0,62}$/i.test(options.traceProject)) {
    throw new ConfigError(`server option traceProject (GOOGLE_CLOUD_PROJECT) is not a project id: ${options.traceProject}`)
  }
  positiveInt(record, 'holdTimeoutMs', 0)
  if (options.serviceTimeoutMs !== undefined && options.serviceTimeoutMs !== 0) positiveInt(record, 'serviceTimeoutMs', 1000)
  if (options.serviceTimeoutMs === 0) options.serviceTimeoutMs = undefined
  positiveInt(record, 'holdWindowMs', 0)
  if (options.relay !== undefined) resolveRelayOptions(options.relay)
  if (options.tls !== undefined) checkTlsIdentity(options.tls)
  if (options.publicHostSuffix !== undefined) {
    const suffix = options.publicHostSuffix
      .toLowerCase()
      .replace(/^\*?\./, '')
      .replace(/\.$/, '')
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(suffix))
      throw new ConfigError(`PUBLIC_HOST_SUFFIX must be a domain like tunnel.example.com, got ${JSON.stringify(options.publicHostSuffix)}`)
    options.publicHostSuffix = suffix
  }
  if (options.publicBaseUrl !== undefined) {
    let url: URL
    try {
      url = new URL(options.publicBaseUrl)
    } catch (cause) {
      throw new ConfigError(`PUBLIC_BASE_URL is not a URL: ${options.publicBaseUrl}`, { cause })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`PUBLIC_BASE_URL must be http(s), got ${url.protocol}`)
    options.publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, '')
  }
  return options
}
