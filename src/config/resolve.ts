/**
 * The one precedence rule, for any settings table: a flag beats an
 * environment variable beats the config file beats the default. Every value
 * is parsed by its row's type as it is read, so a bad one is refused naming
 * the setting and where it came from.
 */
import { ConfigError } from '../errors.js'
import { settingLabel, type AnySetting } from './setting.js'

/** Where a setting's effective value came from. */
/** `login`: saved by `adit login` (below flag, env and file; the agent's server and API key only). */
export type SettingSource = 'flag' | 'env' | 'file' | 'login' | 'default'

/** Parsed values by key; a key is absent (undefined) when nothing set it. */
export type SettingValues = Record<string, unknown>

export interface ResolvedSettings {
  /** Values that were set (by flag, env or file), parsed. Defaults are not filled in: see effectiveValues. */
  values: SettingValues
  sources: Record<string, SettingSource>
  /** The config file read, if any. */
  file?: string | undefined
}

/**
 * Resolves every row of `table`. `flags` are the values typed on the
 * command line (commander's: strings, or booleans for switches and a bare
 * `--inspect`); `fileSettings` the config file's keys (camelCase). Unknown
 * file keys are refused, naming the key.
 */
export function resolveSettings(
  table: readonly AnySetting[],
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  fileSettings: Record<string, unknown> = {},
  filePath = 'the config file',
): ResolvedSettings {
  const known = new Map(table.map((s) => [s.key, s]))
  for (const key of Object.keys(fileSettings)) {
    if (key === 'config') throw new ConfigError(`${filePath}: "config" cannot be set from a config file`)
    if (!known.has(key)) throw new ConfigError(`${filePath}: unknown setting "${key}" (known: ${[...known.keys()].join(', ')})`)
  }
  const values: SettingValues = {}
  const sources: Record<string, SettingSource> = {}
  for (const row of table) {
    const label = settingLabel(row)
    const flag = flags[row.key]
    const envName = row.env.find((name) => env[name] !== undefined && env[name] !== '')
    const fromFile = fileSettings[row.key]
    let value: unknown
    if (flag !== undefined) {
      value = typeof flag === 'boolean' ? flag : row.type.parse(String(flag), label)
      sources[row.key] = 'flag'
    } else if (envName !== undefined) {
      value = row.type.parse(env[envName]!, `${envName} (${label})`)
      sources[row.key] = 'env'
    } else if (fromFile !== undefined && fromFile !== null) {
      const where = `${label} in ${filePath}`
      value =
        typeof fromFile === 'string'
          ? row.type.parse(fromFile, where)
          : row.type.fromFile
            ? row.type.fromFile(fromFile, where)
            : (() => {
                throw new ConfigError(`${where} must be a string, got ${JSON.stringify(fromFile)}`)
              })()
      sources[row.key] = 'file'
    } else {
      sources[row.key] = 'default'
    }
    if (value !== undefined) values[row.key] = value
  }
  return { values, sources }
}

/** Set values, with each row's default where nothing set it. */
export function effectiveValues(table: readonly AnySetting[], resolved: ResolvedSettings, env: NodeJS.ProcessEnv): SettingValues {
  const out: SettingValues = {}
  for (const row of table) {
    // A set value wins even when it is null (`--state-file none`).
    const set = resolved.values[row.key]
    const value = set !== undefined ? set : row.defaultFrom ? row.defaultFrom(env) : row.default
    if (value !== undefined) out[row.key] = value
  }
  return out
}

/** The component options the rows point at (`option`), from the effective values. */
export function optionsFrom(table: readonly AnySetting[], values: SettingValues): Record<string, unknown> {
  const options: Record<string, unknown> = {}
  for (const row of table) {
    if (row.option === undefined || values[row.key] === undefined) continue
    for (const path of typeof row.option === 'string' ? [row.option] : row.option) {
      const parts = path.split('.')
      let target = options
      for (const part of parts.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>
      target[parts.at(-1)!] = values[row.key]
    }
  }
  return options
}

/**
 * The effective configuration for `--print-config`: every row with its value
 * in the units its flag takes (`50m`, `16k`, `30/m`) and its source; secrets
 * `[redacted]`; `null` only where nothing is set and there is no default.
 * `overrides` replace a value the command computes (e.g. the inspector's address).
 */
export function describeSettings(
  table: readonly AnySetting[],
  resolved: ResolvedSettings,
  effective: SettingValues,
  overrides: SettingValues = {},
): Record<string, { value: unknown; source: SettingSource }> {
  const out: Record<string, { value: unknown; source: SettingSource }> = {}
  for (const row of table) {
    const source = resolved.sources[row.key] ?? 'default'
    let value: unknown = row.key in overrides ? overrides[row.key] : effective[row.key] === undefined ? undefined : row.type.format(effective[row.key])
    if (row.secret && value !== undefined) value = '[redacted]'
    out[row.key] = { value: value ?? null, source }
  }
  return out
}
