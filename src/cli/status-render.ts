/**
 * The agent's terminal status, as pure functions: a table of tunnels (drawn
 * in place on a TTY) and one line per change (when stdout is piped). No I/O
 * here, so tests check exactly what a user would see.
 */

export type TunnelState = 'connecting' | 'waiting' | 'online' | 'reconnecting' | 'error'

export interface TunnelStatusRow {
  /** What the user calls the tunnel: its configured name, else its id once known, else its local target. */
  label: string
  local: string
  publicUrl: string | undefined
  state: TunnelState
  requests: number
  lastError: string | undefined
}

/** One thing that happened to one tunnel, for the piped (line-based) form. */
export type StatusChange =
  | { kind: 'state'; server?: string }
  | { kind: 'url'; reregistered: boolean }
  | { kind: 'request'; method: string; path: string; status: number; responseBytes: number; durationMs: number; error?: string }

const headings = ['TUNNEL', 'PUBLIC URL', 'STATE', 'REQUESTS', 'LAST ERROR'] as const

function cell(row: TunnelStatusRow): string[] {
  return [row.label, row.publicUrl ?? '—', row.state, String(row.requests), row.lastError ?? '']
}

/** Cuts `text` to `width` characters, marking the cut with an ellipsis. */
export function fit(text: string, width: number): string {
  if (width <= 0) return ''
  const chars = [...text]
  if (chars.length <= width) return text
  return width === 1 ? '…' : `${chars.slice(0, width - 1).join('')}…`
}

function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '')
}

/**
 * The table, one string per line, each at most `width` characters. Columns
 * are as wide as their widest cell; when the terminal is narrower, the last
 * error gives way first, then the public URL.
 */
export function renderStatusTable(rows: readonly TunnelStatusRow[], width = 100, colour = false): string[] {
  const cells = rows.map((row) => cell(row).map(oneLine))
  const widths = headings.map((heading, i) => Math.max([...heading].length, ...cells.map((c) => [...(c[i] ?? '')].length)))
  const gap = 2
  const fixed = (widths[0] ?? 0) + (widths[2] ?? 0) + (widths[3] ?? 0) + gap * 4
  // Public URL keeps what it needs when it can; the error takes the rest.
  const urlWidth = Math.max(10, Math.min(widths[1] ?? 0, width - fixed - 12))
  const errorWidth = Math.max(0, width - fixed - urlWidth)
  const columnWidths = [widths[0] ?? 0, urlWidth, widths[2] ?? 0, widths[3] ?? 0, errorWidth]
  const line = (values: readonly string[]): string =>
    fit(
      values
        .map((value, i) => {
          const w = columnWidths[i] ?? 0
          const text = fit(value, w)
          // Numbers align right; the last column is not padded.
          if (i === 3) return text.padStart(w)
          return i === values.length - 1 ? text : text.padEnd(w)
        })
        .join(' '.repeat(gap))
        .trimEnd(),
      width,
    )
  // Colour goes on after the widths are settled: escape codes take no columns.
  const painted = (row: TunnelStatusRow, text: string): string => {
    if (!colour) return text
    const at = (columnWidths[0] ?? 0) + gap + urlWidth + gap
    const state = text.slice(at, at + row.state.length)
    return state === row.state ? `${text.slice(0, at)}${paint(row.state, stateColour[row.state])}${text.slice(at + row.state.length)}` : text
  }
  return [line(headings), ...cells.map((c, i) => painted(rows[i]!, line(c)))]
}

const stateColour: Record<TunnelState, number> = { connecting: 36, waiting: 33, online: 32, reconnecting: 33, error: 31 }

/** SGR colour around `text` (32 green, 33 yellow, 31 red, 36 cyan). */
function paint(text: string, sgr: number): string {
  return `\x1b[${sgr}m${text}\x1b[39m`
}

/**
 * Colour only for a person at a terminal: off when the output is not a
 * TTY, when NO_COLOR is set (no-color.org) or TERM is dumb; FORCE_COLOR
 * turns it on anyway.
 */
export function useColour(output: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return output.isTTY === true && env.TERM !== 'dumb'
}

/** One finished request, as the status view lists it. */
export interface RecentRequest {
  label: string
  method: string
  path: string
  status: number
  durationMs: number
}

/** The last few requests under the table: method, path, status, ms (newest last), each line at most `width`. */
export function renderRecentRequests(requests: readonly RecentRequest[], width = 100, several = false, colour = false): string[] {
  if (requests.length === 0) return []
  const lines = ['', 'RECENT REQUESTS']
  for (const r of requests) {
    const status = r.status === 0 ? 'error' : String(r.status)
    const ms = `${r.durationMs} ms`
    const prefix = `${several ? `[${r.label}] ` : ''}${r.method.padEnd(7)}`
    const room = Math.max(8, width - [...prefix].length - Math.max(5, status.length) - ms.length - 4)
    const text = `${prefix}${fit(oneLine(r.path), room).padEnd(room)}  ${status.padStart(5)}  ${ms}`
    const tone = r.status === 0 || r.status >= 500 ? 31 : r.status >= 400 ? 33 : 32
    lines.push(colour ? text.replace(` ${status.padStart(5)} `, ` ${paint(status.padStart(5), tone)} `) : fit(text, width))
  }
  return lines
}

/**
 * The line printed for one change when stdout is not a TTY. With a single
 * tunnel the lines are the agent's classic ones (`adit: forwarding URL → local`,
 * `GET /path → 200 …`); with several, each names its tunnel.
 */
export function formatStatusChange(row: TunnelStatusRow, change: StatusChange, several: boolean): string {
  const tag = several ? ` (${row.label})` : ''
  switch (change.kind) {
    case 'state':
      switch (row.state) {
        case 'connecting':
          return `adit: connecting${change.server ? ` to ${change.server}` : ''} for ${row.local}${tag}`
        case 'waiting':
          return `adit: waiting${tag}: ${oneLine(row.lastError ?? 'for the server')}`
        case 'online':
          return `adit: forwarding ${row.publicUrl ?? '?'} → ${row.local}${tag}`
        case 'reconnecting':
          return `adit: connection lost${row.lastError ? ` (${oneLine(row.lastError)})` : ''}; reconnecting${tag}`
        case 'error':
          return `adit: error${tag}: ${oneLine(row.lastError ?? 'unknown error')}`
      }
      return `adit: ${String(row.state)}${tag}`
    case 'url':
      return change.reregistered
        ? `adit: the server issued a new tunnel; now forwarding ${row.publicUrl ?? '?'} → ${row.local}${tag}`
        : `adit: forwarding ${row.publicUrl ?? '?'} → ${row.local}${tag}`
    case 'request': {
      const prefix = several ? `[${row.label}] ` : ''
      return `${prefix}${change.method} ${oneLine(change.path)} → ${change.status || 'error'} ${change.responseBytes} B ${change.durationMs} ms${change.error ? ` (${oneLine(change.error)})` : ''}`
    }
  }
}

/** ANSI: move the cursor to the start of the line `n` lines up, then clear to the end of the screen. */
export function redrawPrefix(previousLines: number): string {
  return previousLines > 0 ? `\x1b[${previousLines}F\x1b[J` : ''
}

/** A request still in flight, as the status view shows its progress. */
export interface TransferInProgress {
  label: string
  method: string
  path: string
  elapsedMs: number
  requestBytes: number
  responseBytes: number
  /** The response's content-length, when it has one: the view shows a percentage. */
  responseLength?: number
}

/** 1536 → "1.5 KiB"; binary units, one decimal from KiB up. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

/**
 * Long transfers under the table: method, path, then bytes so far each way
 * that moved (↑ to the service, ↓ to the client, with a percentage when the
 * length is known), the average rate and the time so far.
 */
export function renderTransfers(transfers: readonly TransferInProgress[], width = 100, several = false): string[] {
  if (transfers.length === 0) return []
  const lines = ['', 'IN PROGRESS']
  for (const t of transfers) {
    const seconds = t.elapsedMs / 1000
    const parts: string[] = []
    if (t.requestBytes > 0) parts.push(`↑ ${formatBytes(t.requestBytes)}`)
    if (t.responseBytes > 0 || t.requestBytes === 0) {
      const of =
        t.responseLength !== undefined && t.responseLength > 0
          ? ` of ${formatBytes(t.responseLength)} (${Math.floor((100 * t.responseBytes) / t.responseLength)} %)`
          : ''
      parts.push(`↓ ${formatBytes(t.responseBytes)}${of}`)
    }
    const rate = seconds > 0 ? `${formatBytes(Math.round((t.requestBytes + t.responseBytes) / seconds))}/s` : ''
    const stats = `${parts.join('  ')}  ${rate}  ${seconds.toFixed(1)} s`
    const prefix = `${several ? `[${t.label}] ` : ''}${t.method.padEnd(7)}`
    const room = Math.max(8, width - [...prefix].length - [...stats].length - 2)
    lines.push(fit(`${prefix}${fit(oneLine(t.path), room).padEnd(room)}  ${stats}`, width))
  }
  return lines
}
