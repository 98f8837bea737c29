import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from '../errors.js'
import { TUNNEL_FILE_KEYS } from './agent-config-file.js'
import { parseBoolean } from './parse.js'
import { agentSettings, serverSettings, settingLabel, type Setting } from './settings.js'

/** Where a setting's effective value came from. */
export type SettingSource = 'flag' | 'env' | 'file' | 'default'

/** Settings as strings (switches as booleans), before each component parses and checks them. */
export type RawSettings = Record<string, string | boolean | undefined>

export interface ResolvedSettings {
  values: RawSettings
  sources: Record<string, SettingSource>
  /** The config file read, if any. */
  file: string | undefined
}

/**
 * Reads a config file (`.json`, `.yaml`/`.yml`; other names are tried as
 * JSON then YAML). Keys are the settings' keys in camelCase or kebab-case,
 * either at the top level or under a `server:` / `agent:` section (so one
 * file can serve both commands). A top-level key only the other command
 * knows is skipped; one neither knows is refused later.
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
    // `tunnels:` and `state_dir:` are the agent's multi-tunnel part, read by agent-config-file.ts.
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

function camel(key: string): string {
  return key.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase())
}

/** A config-file value as the string a flag would carry. */
function fileValue(setting: Setting, value: unknown, path: string): string | boolean {
  const where = `${settingLabel(setting)} in ${path}`
  if (setting.boolean) {
    if (typeof value === 'boolean') return value
    if (typeof value === 'string') return parseBoolean(where, value)
    throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(value)}`)
  }
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'boolean') return String(value)
  // A list (signing keys) is the comma-separated form of the flag.
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',')
  throw new ConfigError(`${where} must be a string, number or boolean, got ${JSON.stringify(value)}`)
}

/**
 * The one precedence rule: a flag beats an environment variable beats the
 * config file beats the default (left undefined here; each component fills
 * its own). Unknown file keys are refused, naming the key.
 */
export function resolveSettings(
  settings: readonly Setting[],
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  fileSettings: Record<string, unknown> = {},
  filePath = 'the config file',
): Omit<ResolvedSettings, 'file'> {
  const known = new Map(settings.map((s) => [s.key, s]))
  for (const key of Object.keys(fileSettings)) {
    if (key === 'config') throw new ConfigError(`${filePath}: "config" cannot be set from a config file`)
    if (!known.has(key)) throw new ConfigError(`${filePath}: unknown setting "${key}" (known: ${[...known.keys()].join(', ')})`)
  }
  const values: RawSettings = {}
  const sources: Record<string, SettingSource> = {}
  for (const setting of settings) {
    const flag = flags[setting.key]
    const envName = setting.env.find((name) => env[name] !== undefined && env[name] !== '')
    const optionalValue = setting.flag.includes('[')
    if (optionalValue && (typeof flag === 'boolean' || (flag === undefined && envName === undefined && typeof fileSettings[setting.key] === 'boolean'))) {
      // `--inspect` alone (or `inspect: true` in the file): on, with the component's default value.
      values[setting.key] = (flag ?? fileSettings[setting.key]) as boolean
      sources[setting.key] = flag === undefined ? 'file' : 'flag'
    } else if (flag !== undefined) {
      values[setting.key] = setting.boolean ? flag === true || (typeof flag === 'string' && parseBoolean(settingLabel(setting), flag)) : String(flag)
      sources[setting.key] = 'flag'
    } else if (envName !== undefined) {
      const raw = env[envName]!
      values[setting.key] = setting.boolean ? parseBoolean(`${envName} (${settingLabel(setting)})`, raw) : raw
      sources[setting.key] = 'env'
    } else if (fileSettings[setting.key] !== undefined && fileSettings[setting.key] !== null) {
      values[setting.key] = fileValue(setting, fileSettings[setting.key], filePath)
      sources[setting.key] = 'file'
    } else {
      sources[setting.key] = 'default'
    }
  }
  return { values, sources }
}

/** Reads `--config` / `ADIT_CONFIG` (if any) and resolves every setting. */
export function loadSettings(
  settings: readonly Setting[],
  section: 'server' | 'agent',
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): ResolvedSettings {
  const configPath = typeof flags.config === 'string' ? flags.config : env.ADIT_CONFIG || undefined
  const fileSettings = configPath === undefined ? {} : readConfigFile(configPath, section)
  return { ...resolveSettings(settings, flags, env, fileSettings, configPath), file: configPath }
}

/**
 * The effective configuration for `--print-config`: every setting with its
 * value and source, secrets replaced by `[redacted]`.
 */
export function describeSettings(
  settings: readonly Setting[],
  resolved: ResolvedSettings,
  effective: Record<string, unknown>,
): Record<string, { value: unknown; source: SettingSource }> {
  const out: Record<string, { value: unknown; source: SettingSource }> = {}
  for (const setting of settings) {
    const source = resolved.sources[setting.key] ?? 'default'
    let value = effective[setting.key]
    if (setting.secret && value !== undefined) value = '[redacted]'
    out[setting.key] = { value: value ?? null, source }
  }
  return out
}
