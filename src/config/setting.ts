/**
 * One row of a settings table, and the value types rows are made of. A row
 * says everything about a setting once: its config-file key, its flag, its
 * environment variables, how its value is parsed and written back, its
 * default, and its documentation. Commander's options, the precedence rule,
 * validation, `--print-config` and the README tables are all derived from
 * the rows (src/config/resolve.ts, src/config/tables.ts).
 */
import { ConfigError } from '../errors.js'
import { formatBytes, formatDuration, formatRate, parseBoolean, parseBytes, parseDuration, parseInteger, parseRate, type Rate } from './parse.js'

/** How a setting's text becomes a value, and how the value is shown again. */
export interface SettingType<T> {
  /** Placeholder in the flag, e.g. `duration` in `--hold-timeout <duration>`; undefined for a switch. */
  placeholder: string | undefined
  /** `[value]`: the flag may be given alone (then it reads as `true`). */
  optionalValue?: boolean
  /** The flag may be given several times; the values travel comma-separated (as in the env form; a list in the file). */
  repeatable?: boolean
  /** From a flag, an environment variable or a config-file string; `name` says every way to set it. */
  parse(text: string, name: string): T | undefined
  /** From a config-file value that is not a string (number, boolean, list); by default its text is parsed. */
  fromFile?(value: unknown, name: string): T | undefined
  /** The value as a person would type it (units included), for --print-config, help and the README. */
  format(value: T): string | number | boolean | string[]
}

/** A row of a settings table. */
export interface Setting<T = unknown> {
  /** Config-file key (camelCase; kebab- and snake_case are read too) and the flag's attribute name. */
  key: string
  /** The flag, e.g. `--response-timeout`; the placeholder comes from the type. */
  flag: string
  /** Environment variables: the first is documented, later ones are older aliases. */
  env: readonly string[]
  type: SettingType<T>
  /** The default value; undefined when the setting is simply off or unset by default. */
  default?: T
  /** A default that depends on the environment (e.g. Cloud Run); wins over `default`. */
  defaultFrom?: (env: NodeJS.ProcessEnv) => T
  /** How the default is described when it is not a plain value (`made at start`, `true on Cloud Run, else false`). */
  defaultText?: string
  /** Documentation, in Markdown: the README row; help shows it without backticks. */
  doc: string
  /** Never printed: `--print-config` shows `[redacted]`. */
  secret?: boolean
  /** Where the parsed value goes in the component's options (`security.apiKeys`); several for one value. Unset: the command reads it. */
  option?: string | readonly string[]
}

/** Typed rows are kept side by side in one list. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySetting = Setting<any>

/** Declares a row; keeps its value type checked against its default. */
export function setting<T>(row: Setting<T>): AnySetting {
  return row
}

/** How a setting is named in errors: every way to set it. */
export function settingLabel(row: AnySetting): string {
  return `${row.flag} / ${row.env[0]} / config key ${row.key}`
}

/** The commander spec: `--port <port>`, `--inspect [address]`, `--h2c`. */
export function flagSpec(row: AnySetting): string {
  const p = row.type.placeholder
  if (p === undefined) return row.flag
  return row.type.optionalValue ? `${row.flag} [${p}]` : `${row.flag} <${p}>`
}

/** The default as shown to people, or undefined when there is none to show. */
export function defaultShown(row: AnySetting): string | undefined {
  if (row.defaultText !== undefined) return row.defaultText
  if (row.default === undefined) return undefined
  const shown = row.type.format(row.default)
  if (typeof shown === 'boolean' && row.type.placeholder === undefined) return shown ? 'on' : 'off'
  return Array.isArray(shown) ? shown.join(',') : String(shown)
}

/** A type read from text by one of the parsers in parse.ts (`parse(name, text)`); a config-file number is read as its text. */
function fromText<T>(placeholder: string, parse: (name: string, text: string) => T, format: (value: T) => string | number): SettingType<T> {
  return {
    placeholder,
    parse: (text, name) => parse(name, text),
    fromFile(value, name) {
      if (typeof value === 'number' && Number.isFinite(value)) return parse(name, String(value))
      throw new ConfigError(`${name} must be a string or number, got ${JSON.stringify(value)}`)
    },
    format,
  }
}

/** Free text; empty is unset. */
export function text(placeholder: string, check?: (value: string, name: string) => void): SettingType<string> {
  return {
    placeholder,
    parse(value, name) {
      const v = value.trim()
      if (v === '') return undefined
      check?.(v, name)
      return v
    },
    fromFile(value, name) {
      if (typeof value === 'number' && Number.isFinite(value)) return this.parse(String(value), name)
      throw new ConfigError(`${name} must be a string, got ${JSON.stringify(value)}`)
    },
    format: (value) => value,
  }
}

/** One of a fixed set of words. */
export function oneOf<const W extends string>(placeholder: string, words: readonly W[]): SettingType<W> {
  return {
    placeholder,
    parse(value, name) {
      const v = value.trim()
      if (!(words as readonly string[]).includes(v)) throw new ConfigError(`${name} must be one of ${words.join(', ')}, got ${JSON.stringify(value)}`)
      return v as W
    },
    format: (value) => value,
  }
}

/** A comma-separated list (a list in the config file); empty is unset. */
export function list(placeholder: string): SettingType<string[]> {
  const split = (value: string): string[] | undefined => {
    const items = value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean)
    return items.length === 0 ? undefined : items
  }
  return {
    placeholder,
    parse: split,
    fromFile(value, name) {
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return split(value.join(','))
      throw new ConfigError(`${name} must be a string or a list of strings, got ${JSON.stringify(value)}`)
    },
    format: (value) => value,
  }
}

/** A flag that may be repeated: the values joined by commas, `check`ed; a list in the config file. */
export function repeated(placeholder: string, check?: (value: string, name: string) => void): SettingType<string> {
  const base = text(placeholder, check)
  return {
    ...base,
    repeatable: true,
    fromFile(value, name) {
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return base.parse(value.join(','), name)
      throw new ConfigError(`${name} must be a string or a list of strings, got ${JSON.stringify(value)}`)
    },
  }
}

/** A whole number, within bounds. */
export function integer(placeholder = 'n', min = 0, max = Number.MAX_SAFE_INTEGER): SettingType<number> {
  return fromText(
    placeholder,
    (name, value) => {
      const n = parseInteger(name, value)
      if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`)
      return n
    },
    (value) => value,
  )
}

/** A duration with a unit (`30s`, `5m`), in milliseconds; `0` alone is allowed. */
export function duration(): SettingType<number> {
  return fromText('duration', parseDuration, formatDuration)
}

/** A size (`16k`, `1m`, or bytes), in bytes. */
export function bytes(): SettingType<number> {
  return fromText('size', parseBytes, formatBytes)
}

/** A rate (`30/m`); with `zeroIsOff`, `0` (or `off`) is unset. */
export function rate(zeroIsOff = false): SettingType<Rate> {
  return {
    placeholder: 'rate',
    parse(value, name) {
      if (zeroIsOff && /^\s*(0|off)?\s*$/.test(value)) return undefined
      return parseRate(name, value)
    },
    fromFile(value, name) {
      if (typeof value === 'number' && Number.isFinite(value)) return this.parse(String(value), name)
      throw new ConfigError(`${name} must be a rate like 30/m, got ${JSON.stringify(value)}`)
    },
    format: formatRate,
  }
}

/** true/false, as a value: `--metrics false`. */
export function booleanValue(): SettingType<boolean> {
  return {
    placeholder: 'bool',
    parse: (value, name) => parseBoolean(name, value),
    fromFile(value, name) {
      if (typeof value === 'boolean') return value
      throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value)}`)
    },
    format: (value) => value,
  }
}

/** A switch: the flag alone turns it on; env and file say true/false. */
export function flagSwitch(): SettingType<boolean> {
  return { ...booleanValue(), placeholder: undefined }
}
