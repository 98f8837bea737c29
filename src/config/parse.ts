/**
 * Parsers and formatters for setting values, shared by every row of the
 * settings tables. Each parser names the setting in its error and says how
 * to write the value; each formatter writes the form a person would type
 * (`30s`, `16k`, `30/m`), so `--print-config` and the README show values in
 * the units the flags take.
 */
import { ConfigError } from '../errors.js'

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/**
 * `500ms`, `30s`, `2m`, `1h` (or `1.5s`). A unit is required: a bare number
 * is refused, naming the fix, except `0` (which several settings read as
 * "never" or "off").
 */
export function parseDuration(name: string, value: string): number {
  const text = value.trim()
  if (/^0+(?:\.0+)?$/.test(text)) return 0
  if (/^\d+(?:\.\d+)?$/.test(text))
    throw new ConfigError(`${name} needs a unit: write ${text}s for seconds or ${text}ms for milliseconds (units: ms, s, m, h), got ${JSON.stringify(value)}`)
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  if (!match) throw new ConfigError(`${name} must be a duration like 500ms, 30s, 2m or 1h, got ${JSON.stringify(value)}`)
  return Math.round(Number(match[1]) * durationUnits[match[2] as keyof typeof durationUnits])
}

/** Milliseconds in the largest unit that divides them: 3_000_000 → `50m`, 1500 → `1500ms`, 0 → `0`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0'
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

export function parseInteger(name: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(value)}`)
  return Number(value)
}

/** `16k`, `1m`, `1mb` or a plain number of bytes. */
export function parseBytes(name: string, value: string): number {
  const match = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(value.trim())
  if (!match) throw new ConfigError(`${name} must be a size like 16k, 1m or 1048576, got ${JSON.stringify(value)}`)
  const unit = (match[2] ?? 'b').toLowerCase()[0]!
  return Number(match[1]) * ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[unit]!
}

/** Bytes in the largest binary unit that divides them: 16384 → `16k`, 1048576 → `1m`, 1000 → `1000`. */
export function formatBytes(bytes: number): string {
  if (bytes === 0) return '0'
  for (const [unit, size] of [
    ['g', 1024 ** 3],
    ['m', 1024 ** 2],
    ['k', 1024],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`
  }
  return String(bytes)
}

export function parseBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value)}`)
}

/** A token bucket: `burst` requests at once, refilled at `ratePerSec`. */
export interface Rate {
  ratePerSec: number
  burst: number
}

const rateUnits = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600 } as const

/** `20/m`, `5/s`, `100/h`, or a plain number per second: the burst is the count, the refill spreads it over the unit. */
export function parseRate(name: string, value: string): Rate {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|m|min|h|hour))?\s*$/.exec(value)
  if (!match || Number(match[1]) <= 0) throw new ConfigError(`${name} must be a rate like 20/m, 5/s or 100/h, got ${JSON.stringify(value)}`)
  const count = Number(match[1])
  const seconds = rateUnits[(match[2] ?? 's') as keyof typeof rateUnits]
  return { ratePerSec: count / seconds, burst: Math.max(1, Math.floor(count)) }
}

/** The inverse of parseRate where one exists: `{ratePerSec: 0.5, burst: 30}` → `30/m`. */
export function formatRate(rate: Rate): string {
  for (const [unit, seconds] of [
    ['s', 1],
    ['m', 60],
    ['h', 3600],
  ] as const) {
    if (Math.abs(rate.ratePerSec * seconds - rate.burst) < 1e-9) return `${rate.burst}/${unit}`
  }
  return `${rate.ratePerSec}/s (burst ${rate.burst})`
}
