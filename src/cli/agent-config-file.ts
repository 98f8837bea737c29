/**
 * The `tunnels:` part of the agent's config file (`--config`, the same JSON
 * or YAML file config-file.ts reads for single settings). With a `tunnels:`
 * list the agent runs several tunnels in one process, each with its own
 * local target, name, access options and state file; the other top-level
 * settings (server, api_key, connections, inspect …) apply to all of them
 * and follow the one precedence rule (flag > env > file > default).
 * Keys may be snake_case, kebab-case or camelCase, at the top level or under
 * `agent:`.
 *
 * @example
 * server: https://adit.example.com
 * api_key: k_123
 * state_dir: ~/.config/adit
 * tunnels:
 *   - name: web
 *     local: http://127.0.0.1:3000
 *   - name: billing
 *     local: https://127.0.0.1:8443
 *     local_insecure: true
 *     basic_auth: user:secret
 *     allow_ip: [10.0.0.0/8]
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { parseHostHeader, type HostHeaderMode } from '../agent/config.js'
import { camel, parseYaml } from '../config/config-file.js'
import { parseLocalTarget } from '../agent/local-target.js'
import type { RouteSpec } from '../agent/routes.js'
import { routesFromConfig, withCatchAll } from '../config/route-config.js'

/** Access rules for a tunnel's public side, in the names POST /register uses. */
export interface TunnelAccess {
  basic_auth?: string
  allow_ips?: string[]
  require_jwt?: { jwks_url: string; issuer?: string; audience?: string }
}

/** One tunnel of a `tunnels:` list, checked. */
export interface TunnelFileEntry {
  /** With `routes`: the catch-all after them, if given. */
  local?: string
  /** Several local services for this tunnel (route-config.ts), `local` appended as the catch-all. */
  routes?: RouteSpec[]
  name?: string
  hostHeader?: HostHeaderMode
  localInsecure?: boolean
  /** Explicit state file ('none' keeps nothing); else derived from the state dir. */
  stateFile?: string
  access?: TunnelAccess
}

/** What the file says about tunnels; the rest of it is read by config-file.ts. */
export interface AgentTunnelsFile {
  path: string
  /** Where derived per-tunnel state files go; 'none' keeps nothing. */
  stateDir: string | undefined
  /** Present when the file has a `tunnels:` list. */
  tunnels: TunnelFileEntry[] | undefined
  /** A top-level `routes:` list (one tunnel); the `local` setting is appended by the caller as the catch-all. */
  routes?: RouteSpec[]
}

const tunnelKeys = new Set(['local', 'routes', 'name', 'hostHeader', 'localInsecure', 'stateFile', 'basicAuth', 'allowIp', 'allowIps', 'requireJwt'])

function camelKeys(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) out[camel(key)] = v
  return out
}

function bad(path: string, message: string): ConfigError {
  return new ConfigError(`config file ${path}: ${message}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function expandHome(value: string): string {
  return value === '~' || value.startsWith('~/') ? join(homedir(), value.slice(1)) : value
}

function stringAt(path: string, key: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw bad(path, `${key} must be a non-empty string, got ${JSON.stringify(value)}`)
  return value
}

function booleanAt(path: string, key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw bad(path, `${key} must be true or false, got ${JSON.stringify(value)}`)
  return value
}

function accessOf(path: string, where: string, entry: Record<string, unknown>): TunnelAccess | undefined {
  const access: TunnelAccess = {}
  if (entry.basicAuth !== undefined) {
    const value = stringAt(path, `${where}.basic_auth`, entry.basicAuth)
    const colon = value.indexOf(':')
    if (colon < 1 || colon === value.length - 1) throw bad(path, `${where}.basic_auth must be user:password with both parts non-empty`)
    access.basic_auth = value
  }
  if (entry.allowIp !== undefined && entry.allowIps !== undefined) throw bad(path, `${where}: give allow_ip or allow_ips, not both`)
  const allow = entry.allowIp ?? entry.allowIps
  if (allow !== undefined) {
    const list = typeof allow === 'string' ? [allow] : allow
    if (!Array.isArray(list) || list.length === 0 || !list.every((item) => typeof item === 'string' && /^[0-9a-fA-F:.]+(?:\/\d{1,3})?$/.test(item))) {
      throw bad(path, `${where}.allow_ip must be an address or CIDR, or a list of them (10.0.0.0/8, ::1)`)
    }
    access.allow_ips = list as string[]
  }
  if (entry.requireJwt !== undefined) {
    const jwt = isRecord(entry.requireJwt) ? camelKeys(entry.requireJwt) : entry.requireJwt
    if (!isRecord(jwt)) throw bad(path, `${where}.require_jwt must be a mapping with jwks_url (and optional issuer, audience)`)
    const jwksUrl = stringAt(path, `${where}.require_jwt.jwks_url`, jwt.jwksUrl)
    if (!URL.canParse(jwksUrl)) throw bad(path, `${where}.require_jwt.jwks_url is not a URL`)
    access.require_jwt = {
      jwks_url: jwksUrl,
      ...(jwt.issuer !== undefined ? { issuer: stringAt(path, `${where}.require_jwt.issuer`, jwt.issuer) } : {}),
      ...(jwt.audience !== undefined ? { audience: stringAt(path, `${where}.require_jwt.audience`, jwt.audience) } : {}),
    }
  }
  if (access.basic_auth !== undefined && access.require_jwt !== undefined)
    throw bad(path, `${where}: basic_auth and require_jwt both use the Authorization header; choose one`)
  return Object.keys(access).length > 0 ? access : undefined
}

function tunnelOf(path: string, index: number, raw: unknown): TunnelFileEntry {
  const where = `tunnels[${index}]`
  if (!isRecord(raw)) throw bad(path, `${where} must be a mapping with at least local:`)
  const value = camelKeys(raw)
  for (const key of Object.keys(value)) {
    if (!tunnelKeys.has(key)) throw bad(path, `${where} has an unknown key ${JSON.stringify(key)} (known: ${[...tunnelKeys].join(', ')})`)
  }
  const entry: TunnelFileEntry = {}
  if (value.routes !== undefined) {
    const local = value.local === undefined ? undefined : parseLocalTarget(stringAt(path, `${where}.local`, value.local), `config file ${path}: ${where}.local`)
    try {
      entry.routes = withCatchAll(routesFromConfig(`${where}.routes`, value.routes), local)
    } catch (cause) {
      throw new ConfigError(`config file ${path}: ${(cause as Error).message}`, { cause })
    }
    const first = entry.routes.find((r) => r.local !== undefined)?.local
    if (local !== undefined || first !== undefined) entry.local = local ?? first
  } else entry.local = parseLocalTarget(stringAt(path, `${where}.local`, value.local), `config file ${path}: ${where}.local`)
  if (value.name !== undefined) entry.name = stringAt(path, `${where}.name`, value.name)
  if (value.hostHeader !== undefined) {
    try {
      entry.hostHeader = parseHostHeader(stringAt(path, `${where}.host_header`, value.hostHeader))
    } catch (cause) {
      throw new ConfigError(`config file ${path}: ${where}.host_header must be rewrite, preserve or a host name`, { cause })
    }
  }
  if (value.localInsecure !== undefined) entry.localInsecure = booleanAt(path, `${where}.local_insecure`, value.localInsecure)
  if (value.stateFile !== undefined) entry.stateFile = expandHome(stringAt(path, `${where}.state_file`, value.stateFile))
  const access = accessOf(path, where, value)
  if (access !== undefined) entry.access = access
  return entry
}

/**
 * Reads `tunnels:` and `state_dir:` from the parsed config file (top level,
 * or under `agent:`). `undefined` tunnels: the file configures one tunnel
 * through the ordinary settings. `perTunnelSettings` are the settings that
 * came from the file and belong inside each tunnel when there is a list.
 */
export function tunnelsFromConfig(parsed: unknown, path: string, fileSettings: ReadonlySet<string> = new Set()): AgentTunnelsFile {
  if (parsed === null || parsed === undefined) return { path, stateDir: undefined, tunnels: undefined }
  if (!isRecord(parsed)) throw bad(path, 'must be a mapping of settings (server:, api_key:, tunnels: …)')
  const top = camelKeys(parsed)
  const scope = isRecord(top.agent) ? { ...top, ...camelKeys(top.agent) } : top
  let stateDir: string | undefined
  let tunnels: TunnelFileEntry[] | undefined
  let routes: RouteSpec[] | undefined
  if (scope.routes !== undefined) {
    if (scope.tunnels !== undefined) throw bad(path, 'routes belongs inside each entry of tunnels: when the file has a tunnels list')
    try {
      routes = routesFromConfig('routes', scope.routes)
    } catch (cause) {
      throw new ConfigError(`config file ${path}: ${(cause as Error).message}`, { cause })
    }
  }
  if (scope.stateDir !== undefined) stateDir = expandHome(stringAt(path, 'state_dir', scope.stateDir))
  if (scope.tunnels !== undefined) {
    if (!Array.isArray(scope.tunnels) || scope.tunnels.length === 0) throw bad(path, 'tunnels must be a non-empty list')
    tunnels = scope.tunnels.map((entry: unknown, i: number) => tunnelOf(path, i, entry))
    for (const key of ['local', 'name', 'hostHeader', 'localInsecure', 'stateFile']) {
      if (fileSettings.has(key))
        throw bad(path, `${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)} belongs inside each entry of tunnels: when the file has a tunnels list`)
    }
    const names = new Set<string>()
    for (const [i, entry] of tunnels.entries()) {
      if (entry.name === undefined) continue
      if (names.has(entry.name)) throw bad(path, `tunnels[${i}].name ${JSON.stringify(entry.name)} is used twice`)
      names.add(entry.name)
    }
  }
  return { path, stateDir, tunnels, ...(routes === undefined ? {} : { routes }) }
}

/** Parses config-file text (YAML, which JSON is a subset of); `path` only names it in errors. */
export function parseConfigText(text: string, path: string): unknown {
  try {
    return parseYaml(text)
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(cause as Error).message.split('\n')[0]}`, { cause })
  }
}

/** Reads the tunnels part of the config file at `path`. */
export async function loadTunnelsFile(path: string, fileSettings: ReadonlySet<string>): Promise<AgentTunnelsFile> {
  const absolute = resolve(expandHome(path))
  let text: string
  try {
    text = await readFile(absolute, 'utf8')
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${absolute}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause })
  }
  return tunnelsFromConfig(parseConfigText(text, absolute), absolute, fileSettings)
}

/** Characters safe in a file name, from a tunnel name or local target. */
function slug(text: string): string {
  return (
    text
      .replace(/^https?:\/\//, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'tunnel'
  )
}

/**
 * The state file of one tunnel of the list: its own `state_file`, else
 * `{state_dir}/tunnel-{name or local}.json` — distinct per tunnel, stable
 * across restarts (so each keeps its URL). `null` keeps nothing.
 */
export function stateFileFor(entry: TunnelFileEntry, stateDir: string | undefined): string | null {
  if (entry.stateFile !== undefined) return entry.stateFile === 'none' ? null : entry.stateFile
  if (stateDir === 'none') return null
  const dir = stateDir ?? join(homedir(), '.config', 'adit')
  return join(dir, `tunnel-${slug(entry.name ?? entry.local ?? 'routes')}.json`)
}
