import pino, { type Logger } from 'pino'
import { LogBatch } from './log-batch.js'
import { prettyDestination } from './pretty.js'

export type { Logger }

/** pino level → Cloud Logging `severity`. */
const severity: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
}

export interface LoggerOptions {
  level?: string
  name?: string
  /** Where lines go; stdout (or `fd`) by default. */
  destination?: pino.DestinationStream
  /** File descriptor to write to when no destination is given: 1 (stdout, default) or 2 (stderr). */
  fd?: 1 | 2
  /**
   * `json`, `pretty` (one readable line per entry), or `auto` (default):
   * pretty when the output is a terminal, JSON otherwise. `ADIT_LOG_FORMAT`
   * overrides `auto`.
   */
  format?: 'json' | 'pretty' | 'auto'
}

/** Whether `auto` means pretty for this fd (a TTY, unless ADIT_LOG_FORMAT=json). */
export function wantsPretty(format: LoggerOptions['format'], fd: 1 | 2): boolean {
  const chosen = format === undefined || format === 'auto' ? (process.env.ADIT_LOG_FORMAT ?? 'auto') : format
  if (chosen === 'pretty') return true
  if (chosen === 'json') return false
  return (fd === 1 ? process.stdout : process.stderr).isTTY === true
}

function destinationFor(options: LoggerOptions): pino.DestinationStream {
  const fd = options.fd ?? 1
  if (options.destination !== undefined) {
    return options.format === 'pretty' ? prettyDestination(options.destination) : options.destination
  }
  // A terminal reader gets one readable line per entry, written synchronously (order with other output).
  if (wantsPretty(options.format, fd)) return prettyDestination(fd === 1 ? process.stdout : process.stderr)
  // Lines are batched (LogBatch): one asynchronous write per batch rather than one per line —
  // an access line per request made it one per request.
  return new LogBatch(fd)
}

/**
 * Structured JSON logs with the field names Cloud Logging reads (`severity`,
 * `message`; the access line adds `httpRequest` and
 * `logging.googleapis.com/trace`), or readable lines on a terminal. Secrets never reach here: callers log ids, never credentials,
 * and URLs are passed through `redactUrl` first.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      name: options.name,
      messageKey: 'message',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ severity: severity[label] ?? 'DEFAULT', level: label }),
      },
    },
    destinationFor(options),
  )
}

/** A logger that drops everything (library use without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

const SECRET_KEYS = new Set(['secret', 'token', 'api_key', 'apikey'])

/** A query key as a server would read it: `+` is a space, `%XX` decoded (left as is when malformed), lower case. */
function decodedKey(key: string): string {
  const spaced = key.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(spaced).toLowerCase()
  } catch {
    return spaced.toLowerCase()
  }
}

/**
 * Removes credentials from a URL before it is logged (`?secret=` of the
 * original design). Keys are decoded before they are matched, as the
 * service would decode them: `?%73ecret=` and `?SECRET=` are redacted too.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const hash = url.indexOf('#', q)
  const query = url.slice(q + 1, hash === -1 ? url.length : hash)
  let changed = false
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=')
    if (eq === -1 || !SECRET_KEYS.has(decodedKey(part.slice(0, eq)))) return part
    changed = true
    return `${part.slice(0, eq)}=[redacted]`
  })
  return changed ? `${url.slice(0, q + 1)}${parts.join('&')}${hash === -1 ? '' : url.slice(hash)}` : url
}
