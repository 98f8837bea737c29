/**
 * The human-readable line format used when logs go to a terminal: pino's
 * JSON line in, `12:03:04.567 INFO  message key=value …` out. Deliberately
 * tiny (no pino-pretty): machine consumers get JSON whenever the output is
 * not a TTY.
 */

/** Fields shown elsewhere in the line or only meant for Cloud Logging. */
const hidden = new Set(['time', 'level', 'severity', 'message', 'name', 'httpRequest', 'traceId'])

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  if (value === null || typeof value !== 'object') return String(value)
  return JSON.stringify(value)
}

/** Formats one JSON log line; a line that is not JSON comes back unchanged. */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`
  }
  if (entry === null || typeof entry !== 'object') return `${line.trimEnd()}\n`
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : ''
  const severity = String(entry.severity ?? entry.level ?? '').padEnd(7)
  let out = `${time} ${severity} ${String(entry.message ?? '')}`
  for (const [key, value] of Object.entries(entry)) {
    if (hidden.has(key) || key.startsWith('logging.googleapis.com/') || value === undefined) continue
    out += ` ${key}=${formatValue(value)}`
  }
  return `${out}\n`
}

/** A pino destination that writes formatted lines to `out`. */
export function prettyDestination(out: { write(chunk: string): unknown }): { write(line: string): void } {
  return {
    write(line: string): void {
      out.write(formatLogLine(line))
    },
  }
}
