/**
 * The config file (`--config` / `ADIT_CONFIG`): JSON or YAML, keys in
 * camelCase, kebab-case or snake_case, at the top level or under a
 * `server:` / `agent:` section, so one file can serve both commands.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { extname } from 'node:path'
import { ConfigError } from '../errors.js'
import { agentSettings } from './agent-table.js'
import { resolveSettings, type ResolvedSettings } from './resolve.js'
import { serverSettings } from './server-table.js'
import type { AnySetting } from './setting.js'

/** Top-level keys that belong to the agent's `tunnels:` and `routes:` parts (cli/agent-config-file.ts), not to the flat settings. */
export const TUNNEL_FILE_KEYS: ReadonlySet<string> = new Set(['tunnels', 'stateDir', 'routes'])

/**
 * YAML text → its value. The yaml package (72 files, ~25 ms of a start on Node 24) is loaded on the first
 * config file read, not by every `adit` run: with require(), so reading stays synchronous. Where a plain
 * `require` exists (the esbuild bundles, which inline what it names) it is that one.
 */
export function parseYaml(text: string): unknown {
  const yaml = (typeof require === 'function' ? require('yaml') : createRequire(import.meta.url)('yaml')) as typeof import('yaml')
  return yaml.parse(text)
}

export function camel(key: string): string {
  return key.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase())
}

/**
 * Reads a config file (`.json`, `.yaml`/`.yml`; other names are tried as
 * JSON then YAML) into flat settings for `section`. A top-level key only the
 * other command knows is skipped; one neither knows is refused later.
 */
export function readConfigFile(path: string, section: 'server' | 'agent'): Record<string, unknown> {
  const own = new Set((section === 'server' ? serverSettings : agentSettings).map((s) => s.key))
  const others = new Set((section === 'server' ? agentSettings : serverSettings).map((s) => s.key))
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${path} (--config / ADIT_CONFIG): ${(cause as Error).message}`, { cause })
  }
  let parsed: unknown
  const ext = extname(path).toLowerCase()
  try {
    if (ext === '.json') parsed = JSON.parse(text)
    else if (ext === '.yaml' || ext === '.yml') parsed = parseYaml(text)
    else {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = parseYaml(text)
      }
    }
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(cause as Error).message.split('\n')[0]}`, { cause })
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${path} must hold an object of settings`)
  const top = parsed as Record<string, unknown>
  const other = section === 'server' ? 'agent' : 'server'
  const flat: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(top)) {
    // A top-level `server: <url>` is the agent's server setting, not the server's section.
    if (key === 'server' && typeof value === 'string') {
      if (section === 'agent') flat.server = value
      continue
    }
    if (key === section || key === other) continue
    const name = camel(key)
    if (!own.has(name) && others.has(name)) continue
    if (TUNNEL_FILE_KEYS.has(name)) continue
    flat[name] = value
  }
  const mine = top[section]
  if (mine !== undefined && !(section === 'server' && typeof mine === 'string')) {
    if (mine === null || typeof mine !== 'object' || Array.isArray(mine))
      throw new ConfigError(`config file ${path}: "${section}" must be an object of settings`)
    for (const [key, value] of Object.entries(mine)) if (!TUNNEL_FILE_KEYS.has(camel(key))) flat[camel(key)] = value
  }
  return flat
}

/** Reads `--config` / `ADIT_CONFIG` (if any) and resolves every row of `table`. */
export function loadSettings(
  table: readonly AnySetting[],
  section: 'server' | 'agent',
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): ResolvedSettings {
  const configPath = typeof flags.config === 'string' ? flags.config : env.ADIT_CONFIG || undefined
  const fileSettings = configPath === undefined ? {} : readConfigFile(configPath, section)
  return { ...resolveSettings(table, flags, env, fileSettings, configPath), file: configPath }
}
