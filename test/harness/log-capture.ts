/** A pino destination that keeps every JSON line, parsed, for assertions. */
export function captureLog(): { write(line: string): void; lines: Array<Record<string, unknown>>; text: string[] } {
  const lines: Array<Record<string, unknown>> = []
  const text: string[] = []
  return {
    lines,
    text,
    write(line: string) {
      text.push(line)
      lines.push(JSON.parse(line) as Record<string, unknown>)
    },
  }
}

/** Parses Prometheus exposition text into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    out.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return out
}
