/**
 * Keeps the status of every tunnel the agent runs and shows it: on a TTY as
 * a table redrawn in place (at most every `minRedrawMs`, one timer at most),
 * otherwise as one line per change. Fed by the CLI from each Tunnel's
 * `status`, `request`, `error` and `reregistered` events.
 */
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import {
  formatStatusChange,
  redrawPrefix,
  renderRecentRequests,
  renderStatusTable,
  renderTransfers,
  useColour,
  type RecentRequest,
  type StatusChange,
  type TunnelState,
  type TunnelStatusRow,
} from './status-render.js'
import { TransferWatch } from './transfer-watch.js'

export interface StatusOutput {
  write(text: string): unknown
  readonly isTTY?: boolean
  readonly columns?: number
}

export interface StatusBoardOptions {
  /** More than one tunnel: piped lines name their tunnel. */
  several: boolean
  /** Shortest time between two redraws on a TTY (ms). */
  minRedrawMs: number
  /** Lines drawn above the table on a TTY (inspector URL …). */
  header: () => string[]
  /** How many finished requests the TTY view lists under the table. */
  recentRequests: number
  /** Colour on a TTY; default: on unless NO_COLOR (see useColour). */
  colour: boolean | undefined
  /** A request in flight this long (ms) shows its progress on a TTY. */
  progressAfterMs: number
  /** At most this many transfers in progress are listed. */
  transfers: number
}

export const statusBoardDefaults: StatusBoardOptions = {
  several: false,
  minRedrawMs: 250,
  header: () => [],
  recentRequests: 5,
  colour: undefined,
  progressAfterMs: 1000,
  transfers: 3,
}

/** How often a TTY view is redrawn while requests are in flight, so progress moves. */
const PROGRESS_REDRAW_MS = 500

/** One tunnel's row, as the CLI updates it. */
export class TunnelStatus {
  readonly row: TunnelStatusRow
  private readonly board: StatusBoard

  constructor(board: StatusBoard, row: TunnelStatusRow) {
    this.board = board
    this.row = row
  }

  setState(state: TunnelState, details: { error?: string; server?: string } = {}): void {
    if (details.error !== undefined) this.row.lastError = details.error
    // What it waited for is over once it is online.
    else if (state === 'online' && this.row.state === 'waiting') this.row.lastError = undefined
    if (this.row.state === state) return this.board.changed(this, undefined)
    this.row.state = state
    this.board.changed(this, { kind: 'state', ...(details.server ? { server: details.server } : {}) })
  }

  /** The tunnel waits for the server (the Tunnel says so once per change of reason): a line each time. */
  setWaiting(message: string): void {
    this.row.state = 'waiting'
    this.row.lastError = message
    this.board.changed(this, { kind: 'state' })
  }

  setPublicUrl(url: string, reregistered: boolean): void {
    if (this.row.publicUrl === url) return
    this.row.publicUrl = url
    // The first URL is announced by the move to 'online'; later ones are news.
    this.board.changed(this, reregistered ? { kind: 'url', reregistered } : undefined)
  }

  setLabel(label: string): void {
    if (this.row.label === label) return
    this.row.label = label
    this.board.changed(this, undefined)
  }

  request(change: Omit<Extract<StatusChange, { kind: 'request' }>, 'kind'>): void {
    this.row.requests++
    if (change.error !== undefined) this.row.lastError = change.error
    this.board.recordRequest({ label: this.row.label, method: change.method, path: change.path, status: change.status, durationMs: change.durationMs })
    this.board.changed(this, { kind: 'request', ...change })
  }
}

export class StatusBoard {
  readonly rows: TunnelStatus[] = []
  private readonly output: StatusOutput
  private readonly options: StatusBoardOptions
  private readonly tty: boolean
  private drawnLines = 0
  private lastDraw = 0
  private timer: NodeJS.Timeout | undefined
  private timerDue = 0
  private closed = false
  private readonly colour: boolean
  private readonly recent: RecentRequest[] = []
  private readonly watch: TransferWatch | undefined

  constructor(output: StatusOutput, input: Partial<StatusBoardOptions> = {}) {
    this.output = output
    this.options = { ...statusBoardDefaults, ...input }
    if (!Number.isFinite(this.options.minRedrawMs) || this.options.minRedrawMs < 0) {
      throw new RangeError(`status board option minRedrawMs must be a non-negative number, got ${String(this.options.minRedrawMs)}`)
    }
    this.tty = output.isTTY === true
    this.colour = this.tty && (this.options.colour ?? useColour(output))
    this.watch = this.tty && this.options.transfers > 0 ? new TransferWatch() : undefined
  }

  /**
   * What the forwarder tells about one tunnel's requests, for the progress of
   * long transfers; undefined when piped (no one watches a redraw there).
   */
  transferObserver(label: string, redactPath: (path: string) => string): ExchangeObserver | undefined {
    const watch = this.watch
    if (watch === undefined) return undefined
    const inner = watch.observerFor(label, redactPath)
    // The first request starts the redraws that move its progress (draw keeps them going while any is in flight).
    return { ...inner, onRequest: (start) => (inner.onRequest(start), this.schedule()) }
  }

  /** A finished request, for the TTY view's last few (oldest dropped). */
  recordRequest(request: RecentRequest): void {
    if (!this.tty || this.options.recentRequests <= 0) return
    this.recent.push(request)
    if (this.recent.length > this.options.recentRequests) this.recent.shift()
  }

  /** True when the board redraws a table in place. */
  get inPlace(): boolean {
    return this.tty
  }

  add(row: Omit<TunnelStatusRow, 'requests' | 'lastError' | 'publicUrl'> & Partial<TunnelStatusRow>): TunnelStatus {
    const status = new TunnelStatus(this, { publicUrl: undefined, requests: 0, lastError: undefined, ...row })
    this.rows.push(status)
    this.changed(status, undefined)
    return status
  }

  /** Called by a row: prints the change (piped) or schedules a redraw (TTY). */
  changed(status: TunnelStatus, change: StatusChange | undefined): void {
    if (this.closed) return
    if (!this.tty) {
      if (change !== undefined) this.output.write(`${formatStatusChange(status.row, change, this.options.several)}\n`)
      return
    }
    this.schedule()
  }

  /** A redraw at most every minRedrawMs (TTY), `atLeastMs` from now at the earliest. */
  private schedule(atLeastMs = 0): void {
    if (this.closed || !this.tty) return
    const now = Date.now()
    const wait = Math.max(atLeastMs, this.lastDraw + this.options.minRedrawMs - now)
    if (this.timer !== undefined) {
      // A change does not wait for a progress redraw due later.
      if (this.timerDue <= now + wait) return
      clearTimeout(this.timer)
    }
    this.timerDue = now + wait
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.draw()
    }, wait)
    // Progress redraws never keep the process alive.
    if (atLeastMs > 0) this.timer.unref()
  }

  /** The lines a redraw writes now (header and table). */
  lines(): string[] {
    const width = Math.max(40, this.output.columns || 100)
    return [
      ...this.options.header(),
      ...renderStatusTable(
        this.rows.map((r) => r.row),
        width,
        this.colour,
      ),
      ...renderRecentRequests(this.recent, width, this.options.several, this.colour),
      ...renderTransfers(this.watch?.running(this.options.progressAfterMs, this.options.transfers) ?? [], width, this.options.several),
    ]
  }

  private draw(): void {
    const lines = this.lines()
    this.output.write(`${redrawPrefix(this.drawnLines)}${lines.join('\n')}\n`)
    this.drawnLines = lines.length
    this.lastDraw = Date.now()
    if (this.watch !== undefined && this.watch.size > 0) this.schedule(PROGRESS_REDRAW_MS)
  }

  /** Draws a last time (TTY) and stops. */
  close(): void {
    if (this.closed) return
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.tty) this.draw()
    this.closed = true
  }
}
