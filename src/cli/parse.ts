import { ConfigError } from '../errors.js'

/** `30s`, `500ms`, `2m`, `1h` or a plain number of milliseconds. */
export function parseDuration(name: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim())
  if (!match) throw new ConfigError(`${name} must be a duration like 500ms, 30s, 2m or 1h, got ${JSON.stringify(value)}`)
  const n = Number(match[1])
  const unit = match[2] ?? 'ms'
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!)
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

export function parseBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value)}`)
}
