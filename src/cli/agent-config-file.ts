/**
 * `adit agent --config adit.yaml`: the agent's settings in a YAML (or JSON)
 * file. Top-level keys are the flags in snake_case (`server`, `api_key`,
 * `local`, `name`, `host_header`, …); a `tunnels:` list runs several tunnels
 * in one process, each with its own local target, name, access options and
 * state file. Precedence: flag > environment > file > default.
 *
 * @example
 * server: https://adit.example.com
 * api_key: k_123
 * state_dir: ~/.config/adit
 * tunnels:
 *   - name: web
 *     local: http://127.0.0.1:3000
 *   - name: api
 *     local: https://127.0.0.1:8443
 *     local_insecure: true
 *     basic_auth: user:secret
 *     allow_ip: [10.0.0.0/8]
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from '../errors.js'
import { parseHostHeader, type HostHeaderMode } from '../agent/config.js'

/** Access rules for a tunnel's public side, in the names POST /register uses. */
export interface TunnelAccess {
  basic_auth?: string
  allow_ips?: string[]
  require_jwt?: { jwks_url: string; issuer?: string; audience?: string }
}

/** One tunnel of a `tunnels:` list, checked. */
export interface TunnelFileEntry {
  local: string
  name?: string
  hostHeader?: HostHeaderMode
  localInsecure?: boolean
  /** Explicit state file ('none' keeps nothing); else derived from the state dir. */
  stateFile?: string
  access?: TunnelAccess
}

/** Top-level settings, named as the CLI flags are (camelCase), all as the strings commander would give. */
export interface AgentFileSettings {
  server?: string
  local?: string
  stateFile?: string
  apiKey?: string
  connections?: string
  name?: string
  maxConnectionAge?: string
  hostHeader?: string
  localInsecure?: boolean
  json?: boolean
  inspect?: boolean | string
  logLevel?: string
}

export interface AgentConfigFile {
  path: string
  settings: AgentFileSettings
  /** Where derived per-tunnel state files go; 'none' keeps nothing. */
  stateDir: string | undefined
  /** Present when the file has a `tunnels:` list. */
  tunnels: TunnelFileEntry[] | undefined
}

const settingKeys: Record<string, { flag: keyof AgentFileSettings; type: 'string' | 'boolean' | 'number-or-string' | 'inspect' }> = {
  server: { flag: 'server', type: 'string' },
  local: { flag: 'local', type: 'string' },
  state_file: { flag: 'stateFile', type: 'string' },
  api_key: { flag: 'apiKey', type: 'string' },
  connections: { flag: 'connections', type: 'number-or-string' },
  name: { flag: 'name', type: 'string' },
  max_connection_age: { flag: 'maxConnectionAge', type: 'number-or-string' },
  host_header: { flag: 'hostHeader', type: 'string' },
  local_insecure: { flag: 'localInsecure', type: 'boolean' },
  json: { flag: 'json', type: 'boolean' },
  inspect: { flag: 'inspect', type: 'inspect' },
  log_level: { flag: 'logLevel', type: 'string' },
}
const tunnelKeys = new Set(['local', 'name', 'host_header', 'local_insecure', 'state_file', 'basic_auth', 'allow_ip', 'allow_ips', 'require_jwt'])

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
  if (entry.basic_auth !== undefined) {
    const value = stringAt(path, `${where}.basic_auth`, entry.basic_auth)
    const colon = value.indexOf(':')
    if (colon < 1 || colon === value.length - 1) throw bad(path, `${where}.basic_auth must be user:password with both parts non-empty`)
    access.basic_auth = value
  }
  if (entry.allow_ip !== undefined && entry.allow_ips !== undefined) throw bad(path, `${where}: give allow_ip or allow_ips, not both`)
  const allow = entry.allow_ip ?? entry.allow_ips
  if (allow !== undefined) {
    const list = typeof allow === 'string' ? [allow] : allow
    if (!Array.isArray(list) || list.length === 0 || !list.every((item) => typeof item === 'string' && /^[0-9a-fA-F:.]+(?:\/\d{1,3})?$/.test(item))) {
      throw bad(path, `${where}.allow_ip must be an address or CIDR, or a list of them (10.0.0.0/8, ::1)`)
    }
    access.allow_ips = list as string[]
  }
  if (entry.require_jwt !== undefined) {
    const jwt = entry.require_jwt
    if (!isRecord(jwt)) throw bad(path, `${where}.require_jwt must be a mapping with jwks_url (and optional issuer, audience)`)
    const jwksUrl = stringAt(path, `${where}.require_jwt.jwks_url`, jwt.jwks_url)
    if (!URL.canParse(jwksUrl)) throw bad(path, `${where}.require_jwt.jwks_url is not a URL`)
    access.require_jwt = {
      jwks_url: jwksUrl,
      ...(jwt.issuer !== undefined ? { issuer: stringAt(path, `${where}.require_jwt.issuer`, jwt.issuer) } : {}),
      ...(jwt.audience !== undefined ? { audience: stringAt(path, `${where}.require_jwt.audience`, jwt.audience) } : {}),
    }
  }
  if (access.basic_auth !== undefined && access.require_jwt !== undefined) throw bad(path, `${where}: basic_auth and require_jwt both use the Authorization header; choose one`)
  return Object.keys(access).length > 0 ? access : undefined
}

function tunnelOf(path: string, index: number, value: unknown): TunnelFileEntry {
  const where = `tunnels[${index}]`
  if (!isRecord(value)) throw bad(path, `${where} must be a mapping with at least local:`)
  for (const key of Object.keys(value)) {
    if (!tunnelKeys.has(key)) throw bad(path, `${where} has an unknown key ${JSON.stringify(key)} (known: ${[...tunnelKeys].join(', ')})`)
  }
  const entry: TunnelFileEntry = { local: stringAt(path, `${where}.local`, value.local) }
  if (value.name !== undefined) entry.name = stringAt(path, `${where}.name`, value.name)
  if (value.host_header !== undefined) {
    try {
      entry.hostHeader = parseHostHeader(stringAt(path, `${where}.host_header`, value.host_header))
    } catch (cause) {
      throw new ConfigError(`config file ${path}: ${where}.host_header must be rewrite, preserve or a host name`, { cause })
    }
  }
  if (value.local_insecure !== undefined) entry.localInsecure = booleanAt(path, `${where}.local_insecure`, value.local_insecure)
  if (value.state_file !== undefined) entry.stateFile = expandHome(stringAt(path, `${where}.state_file`, value.state_file))
  const access = accessOf(path, where, value)
  if (access !== undefined) entry.access = access
  return entry
}

/** Parses the text of a config file; `path` only names it in errors. */
export function parseAgentConfigText(text: string, path: string): AgentConfigFile {
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(cause as Error).message.split('\n')[0]}`, { cause })
  }
  if (value === null || value === undefined) value = {}
  if (!isRecord(value)) throw bad(path, 'must be a mapping of settings (server:, api_key:, tunnels: …)')
  const settings: AgentFileSettings = {}
  let stateDir: string | undefined
  let tunnels: TunnelFileEntry[] | undefined
  for (const [key, raw] of Object.entries(value)) {
    if (key === 'tunnels') {
      if (!Array.isArray(raw) || raw.length === 0) throw bad(path, 'tunnels must be a non-empty list')
      tunnels = raw.map((entry, i) => tunnelOf(path, i, entry))
      continue
    }
    if (key === 'state_dir') {
      stateDir = expandHome(stringAt(path, key, raw))
      continue
    }
    const known = settingKeys[key]
    if (known === undefined) throw bad(path, `unknown key ${JSON.stringify(key)} (known: ${[...Object.keys(settingKeys), 'state_dir', 'tunnels'].join(', ')})`)
    const target = settings as Record<string, unknown>
    switch (known.type) {
      case 'string':
        target[known.flag] = stringAt(path, key, raw)
        break
      case 'boolean':
        target[known.flag] = booleanAt(path, key, raw)
        break
      case 'number-or-string':
        if (typeof raw !== 'number' && typeof raw !== 'string') throw bad(path, `${key} must be a number or a string like 50m, got ${JSON.stringify(raw)}`)
        target[known.flag] = String(raw)
        break
      case 'inspect':
        if (typeof raw !== 'boolean' && typeof raw !== 'string' && typeof raw !== 'number') throw bad(path, `inspect must be true, false or an address like 127.0.0.1:4040`)
        target[known.flag] = typeof raw === 'number' ? String(raw) : raw
        break
    }
  }
  if (settings.stateFile !== undefined && settings.stateFile !== 'none') settings.stateFile = expandHome(settings.stateFile)
  if (tunnels !== undefined) {
    for (const key of ['local', 'name', 'hostHeader', 'localInsecure', 'stateFile'] as const) {
      if (settings[key] !== undefined) throw bad(path, `${key === 'hostHeader' ? 'host_header' : key === 'localInsecure' ? 'local_insecure' : key === 'stateFile' ? 'state_file' : key} belongs inside each entry of tunnels: when the file has a tunnels list`)
    }
    const names = new Set<string>()
    for (const [i, entry] of tunnels.entries()) {
      if (entry.name === undefined) continue
      if (names.has(entry.name)) throw bad(path, `tunnels[${i}].name ${JSON.stringify(entry.name)} is used twice`)
      names.add(entry.name)
    }
  }
  return { path, settings, stateDir, tunnels }
}

export async function loadAgentConfigFile(path: string): Promise<AgentConfigFile> {
  const absolute = resolve(expandHome(path))
  let text: string
  try {
    text = await readFile(absolute, 'utf8')
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${absolute}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause })
  }
  return parseAgentConfigText(text, absolute)
}

/** Where a flag's value came from, as commander reports it. */
export type ValueSource = 'default' | 'env' | 'cli' | 'config' | 'implied' | undefined

/**
 * The flags with the file's settings filled in where neither the command
 * line nor the environment gave a value (flag > env > file > default).
 */
export function applyConfigFile<T extends AgentFileSettings>(flags: T, sourceOf: (flag: keyof AgentFileSettings) => ValueSource, file: AgentConfigFile): T {
  const merged: T = { ...flags }
  for (const [flag, value] of Object.entries(file.settings) as Array<[keyof AgentFileSettings, unknown]>) {
    const source = sourceOf(flag)
    if (source === 'cli' || source === 'env') continue
    ;(merged as Record<string, unknown>)[flag] = value
  }
  return merged
}

/** Characters safe in a file name, from a tunnel name or local target. */
function slug(text: string): string {
  return text.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'tunnel'
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
  return join(dir, `tunnel-${slug(entry.name ?? entry.local)}.json`)
}
