import { ConfigError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import type { ExchangeObserver } from './exchange-observer.js'
import type { TunnelAccessRequest } from './access-flags.js'
import { buildRouteTable, type RouteSpec, type RouteTable } from './routes.js'
import { parseLocalTarget, parseTcpTarget, type TcpTarget } from './local-target.js'
import { defaultStateFile } from './config-dir.js'

/** Which Host header the local service sees. */
export type HostHeaderMode = 'rewrite' | 'preserve' | { value: string }

export interface AgentOptions {
  /** The adit server, e.g. `https://adit.example.com`. */
  server: string
  /** The private service, e.g. `http://127.0.0.1:3000`. The agent never connects anywhere else. Unused when `routes` is given. */
  local: string
  /**
   * Several local services, first match wins (host, path prefix); replaces
   * `local`. The table ends with a catch-all: the last route if it is one
   * (path `/`, no host), else an implicit 404. The agent connects only to
   * these origins.
   */
  routes: RouteSpec[] | undefined
  /** Where `{id, secret, public_url}` are kept so a restart keeps the URL; `null` keeps nothing. */
  stateFile: string | null
  /** API key for `POST /register`, when the server requires one. */
  apiKey: string | undefined
  /** WebSocket connections to the server. */
  connections: number
  /** Host header policy: rewrite to the local target's host (default), preserve the public one, or a fixed value. */
  hostHeader: HostHeaderMode
  /** Accept a self-signed certificate from an https:// local target. */
  localInsecure: boolean
  /** Keep-alive connections to the local service at most. */
  localConnections: number
  /** First reconnect delay (ms); doubles per failure with full jitter. */
  reconnectBaseMs: number
  /** Largest reconnect delay (ms). */
  reconnectMaxMs: number
  /** Largest WebSocket message accepted from the server (bytes). */
  maxFrameBytes: number
  /** Ask for this name as the tunnel id (host routing: `{name}.{suffix}`). */
  name: string | undefined
  /** Replace each connection after this long (ms, jittered ±10%); 0 never. Keep it below the server's request timeout (Cloud Run: at most 60 min). */
  maxConnectionAgeMs: number
  /** How long a replaced connection may take to finish its streams before it is closed (ms). */
  drainTimeoutMs: number
  logger: Logger | undefined
  observer: ExchangeObserver | undefined
  /**
   * Wait for the server as long as it takes when it is unreachable, rate
   * limits (Retry-After honoured) or answers 5xx; false: the first failed
   * registration rejects. Credentials refused is final either way.
   */
  waitForServer: boolean
  /** Public access rules the server enforces for this tunnel (`--basic-auth`, `--allow-ip`, `--require-jwt`); sent at registration. */
  access: TunnelAccessRequest | undefined
  /**
   * A TCP tunnel (`adit tcp`): the local TCP service, `5432` or `host:port`,
   * instead of an HTTP `local`; visitors reach it with `adit connect`.
   */
  tcp: string | undefined
}

export const agentDefaults: AgentOptions = {
  server: 'http://127.0.0.1:8080',
  local: 'http://127.0.0.1:3000',
  routes: undefined,
  stateFile: defaultStateFile(),
  apiKey: undefined,
  connections: 2,
  hostHeader: 'rewrite',
  localInsecure: false,
  localConnections: 128,
  reconnectBaseMs: 250,
  reconnectMaxMs: 30_000,
  maxFrameBytes: 1024 * 1024,
  name: undefined,
  maxConnectionAgeMs: 50 * 60_000,
  drainTimeoutMs: 10 * 60_000,
  logger: undefined,
  observer: undefined,
  access: undefined,
  waitForServer: true,
  tcp: undefined,
}

function httpUrl(name: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch (cause) {
    throw new ConfigError(`agent option ${name} is not a URL: ${value}`, { cause })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`agent option ${name} must be http:// or https://, got ${url.protocol}`)
  return url
}

export function parseHostHeader(value: string): HostHeaderMode {
  if (value === 'rewrite' || value === 'preserve') return value
  if (value.length === 0 || /[\s\r\n]/.test(value))
    throw new ConfigError(`--host-header must be rewrite, preserve or a host name, got ${JSON.stringify(value)}`)
  return { value }
}

/** Fills defaults and checks every option, naming the bad one. */
export function resolveAgentOptions(
  input: Partial<AgentOptions>,
): AgentOptions & { serverUrl: URL; localUrl: URL; routeTable: RouteTable; tcpTarget: TcpTarget | undefined } {
  const options: AgentOptions = { ...agentDefaults }
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value
  }
  const serverUrl = httpUrl('server', options.server)
  const tcpTarget = options.tcp === undefined ? undefined : parseTcpTarget(options.tcp, 'agent option tcp')
  if (tcpTarget !== undefined && options.routes !== undefined && options.routes.length > 0)
    throw new ConfigError('agent option tcp: a TCP tunnel has one target, no routes')
  // `3000`, `localhost:3000` and URLs alike (what `adit http <target>` takes); a TCP tunnel is shown as tcp://host:port.
  options.local =
    tcpTarget === undefined
      ? parseLocalTarget(options.local, 'agent option local')
      : `tcp://${tcpTarget.host.includes(':') ? `[${tcpTarget.host}]` : tcpTarget.host}:${tcpTarget.port}`
  const localUrl = new URL(options.local)
  for (const name of ['connections', 'localConnections', 'reconnectBaseMs', 'reconnectMaxMs', 'maxFrameBytes'] as const) {
    const value = options[name]
    if (!Number.isInteger(value) || value < 1) throw new ConfigError(`agent option ${name} must be a positive integer, got ${String(value)}`)
  }
  for (const name of ['maxConnectionAgeMs', 'drainTimeoutMs'] as const) {
    const value = options[name]
    if (!Number.isInteger(value) || value < 0) throw new ConfigError(`agent option ${name} must be a whole number of milliseconds, got ${String(value)}`)
  }
  if (options.maxConnectionAgeMs > 0 && options.maxConnectionAgeMs < 500)
    throw new ConfigError(`agent option maxConnectionAgeMs must be 0 (never) or at least 500 ms, got ${options.maxConnectionAgeMs}`)
  if (options.name !== undefined && !/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/.test(options.name)) {
    throw new ConfigError(`agent option name must be 3–63 lowercase letters, digits or dashes (a DNS label), got ${JSON.stringify(options.name)}`)
  }
  if (options.connections > 16) throw new ConfigError(`agent option connections must be ≤ 16, got ${options.connections}`)
  const routeTable =
    options.routes === undefined || options.routes.length === 0
      ? buildRouteTable([], { local: tcpTarget === undefined ? options.local : agentDefaults.local, localInsecure: options.localInsecure })
      : buildRouteTable(options.routes)
  return { ...options, serverUrl, localUrl, routeTable, tcpTarget }
}
