/**
 * What `adit login` saves: the server and its API key, in
 * `<config dir>/login.json` (0600: it holds the key). Flags, environment
 * (`ADIT_SERVER`, `ADIT_API_KEY`) and the config file win over it; the key
 * is only ever sent to the server it was saved for.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configDir } from '../agent/config-dir.js'
import { ConfigError } from '../errors.js'
import type { ResolvedSettings } from './resolve.js'

export interface SavedLogin {
  server: string
  apiKey?: string
}

export function loginFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'login.json')
}

/** The saved login, or undefined when there is none (a broken file is an error that names it). */
export function loadLogin(env: NodeJS.ProcessEnv = process.env): SavedLogin | undefined {
  const path = loginFile(env)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  let value: { server?: unknown; api_key?: unknown }
  try {
    value = JSON.parse(text) as typeof value
  } catch (cause) {
    throw new ConfigError(`${path} is not valid JSON: run \`adit login <server>\` again, or delete it`, { cause })
  }
  if (typeof value.server !== 'string') throw new ConfigError(`${path} has no server: run \`adit login <server>\` again, or delete it`)
  return { server: value.server, ...(typeof value.api_key === 'string' && value.api_key !== '' ? { apiKey: value.api_key } : {}) }
}

/** Writes the login atomically, mode 0600 in a 0700 folder. */
export function saveLogin(login: SavedLogin, env: NodeJS.ProcessEnv = process.env): string {
  const path = loginFile(env)
  mkdirSync(configDir(env), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify({ server: login.server, ...(login.apiKey ? { api_key: login.apiKey } : {}) }, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, path)
  return path
}

/**
 * A server as typed → its origin: `adit.example.com` → `https://adit.example.com`,
 * `localhost:8080` / `127.0.0.1:8080` → `http://…` (loopback is plain HTTP), URLs as they are.
 */
export function serverOrigin(value: string): string {
  const text = value.trim()
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i.test(text)
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${loopback ? 'http' : 'https'}://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch (cause) {
    throw new ConfigError(`server must be a URL or a host name (adit.example.com), got ${JSON.stringify(value)}`, { cause })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`server must be http:// or https://, got ${url.protocol}//`)
  return url.origin
}

/**
 * The saved login under the settings that were given: the server when none
 * was (`source` 'default'), the key when none was and the server is the
 * saved one — never the saved key to another server.
 */
export function withSavedLogin(
  values: { server?: string | undefined; apiKey?: string | undefined },
  given: { server: boolean; apiKey: boolean },
  login: SavedLogin | undefined,
): { server?: string; apiKey?: string } {
  if (login === undefined) return {}
  const server = given.server ? values.server : login.server
  const sameServer = server !== undefined && safeOrigin(server) === safeOrigin(login.server)
  return {
    ...(given.server ? {} : { server: login.server }),
    ...(!given.apiKey && sameServer && login.apiKey !== undefined ? { apiKey: login.apiKey } : {}),
  }
}

/**
 * Puts the saved login into resolved settings where nothing set them
 * (source `login`): flag, env and config file win; the key only goes with
 * its own server.
 */
export function applySavedLogin(resolved: ResolvedSettings, login: SavedLogin | undefined): void {
  const given = { server: resolved.sources.server !== 'default', apiKey: resolved.sources.apiKey !== 'default' }
  const saved = withSavedLogin({ server: resolved.values.server as string | undefined }, given, login)
  if (saved.server !== undefined) {
    resolved.values.server = saved.server
    resolved.sources.server = 'login'
  }
  if (saved.apiKey !== undefined) {
    resolved.values.apiKey = saved.apiKey
    resolved.sources.apiKey = 'login'
  }
}

function safeOrigin(value: string): string {
  try {
    return serverOrigin(value)
  } catch {
    return value
  }
}
