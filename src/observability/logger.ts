import pino, { type Logger } from 'pino'

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
  /** Where lines go; stdout by default. */
  destination?: pino.DestinationStream
}

/**
 * Structured JSON logs with the field names Cloud Logging reads (`severity`,
 * `message`). Secrets never reach here: callers log ids, never credentials,
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
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  )
}

/** A logger that drops everything (library use without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/** Removes credentials from a URL before it is logged (`?secret=` of the original design). */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:secret|token|api_key|apikey)=)[^&#]*/gi, '$1[redacted]')
}
