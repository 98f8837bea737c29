import type { AgentConnection } from './agent-connection.js'

/** The live agent connections of one tunnel on this instance. */
export class TunnelEntry {
  readonly id: string
  readonly connections: AgentConnection[] = []
  constructor(id: string) {
    this.id = id
  }

  /**
   * The connection to open the next stream on: never one going away; one
   * asked to move only when nothing else is left; then fewest bulk transfers;
   * then least streams in flight (so the agents of a tunnel share its load).
   */
  pick(): AgentConnection | undefined {
    let best: AgentConnection | undefined
    for (const connection of this.connections) {
      const session = connection.session
      if (session.goingAway || session.closed) continue
      if (best === undefined) {
        best = connection
        continue
      }
      const moving = session.moveRequested === true || session.peerGoingAway === true
      const bestMoving = best.session.moveRequested === true || best.session.peerGoingAway === true
      if (moving !== bestMoving) {
        if (bestMoving) best = connection
        continue
      }
      // A connection busy with a bulk transfer has a full send buffer ahead
      // of anything new: small requests go where none is running.
      const heavy = session.heavyStreams ?? 0
      const bestHeavy = best.session.heavyStreams ?? 0
      if (heavy !== bestHeavy) {
        if (heavy < bestHeavy) best = connection
        continue
      }
      if (session.activeStreams < best.session.activeStreams) best = connection
    }
    return best
  }
}

interface Waiter {
  resolve(connection: AgentConnection | undefined): void
  timer: NodeJS.Timeout
}

/** Disconnect times kept at most (oldest forgotten first); bounds memory under churn. */
const MAX_REMEMBERED_DISCONNECTS = 100_000

/**
 * Tunnel id → live connections on this instance, plus what the hold logic
 * needs: when a tunnel last lost its connection here, and requests waiting
 * for it to come back. The cluster knows the rest.
 */
export class TunnelRegistry {
  private readonly entries = new Map<string, TunnelEntry>()
  private readonly disconnectedAt = new Map<string, number>()
  private readonly waiters = new Map<string, Set<Waiter>>()

  get(id: string): TunnelEntry | undefined {
    return this.entries.get(id)
  }

  /** True when the tunnel had a connection here within the last `windowMs`. */
  recentlyConnected(id: string, windowMs: number): boolean {
    const at = this.disconnectedAt.get(id)
    return at !== undefined && Date.now() - at <= windowMs
  }

  /** Resolves with a connection for `id` as soon as one can take streams, or undefined after `timeoutMs`. */
  waitForConnection(id: string, timeoutMs: number): Promise<AgentConnection | undefined> {
    const ready = this.entries.get(id)?.pick()
    if (ready !== undefined) return Promise.resolve(ready)
    return new Promise((resolve) => {
      let set = this.waiters.get(id)
      if (set === undefined) {
        set = new Set()
        this.waiters.set(id, set)
      }
      const waiters = set
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          waiters.delete(waiter)
          if (waiters.size === 0 && this.waiters.get(id) === waiters) this.waiters.delete(id)
          resolve(undefined)
        }, timeoutMs),
      }
      waiters.add(waiter)
    })
  }

  /** Ends the wait of every request holding for `id` now, with no connection (the tunnel was revoked: nobody is coming). */
  releaseWaiters(id: string): void {
    const waiters = this.waiters.get(id)
    if (waiters === undefined) return
    this.waiters.delete(id)
    for (const waiter of waiters) {
      clearTimeout(waiter.timer)
      waiter.resolve(undefined)
    }
  }

  /** Requests holding for a reconnecting agent (all tunnels). */
  get waitingCount(): number {
    let n = 0
    for (const set of this.waiters.values()) n += set.size
    return n
  }

  add(connection: AgentConnection): TunnelEntry {
    let entry = this.entries.get(connection.tunnelId)
    if (entry === undefined) {
      entry = new TunnelEntry(connection.tunnelId)
      this.entries.set(connection.tunnelId, entry)
    }
    entry.connections.push(connection)
    this.release(connection.tunnelId)
    return entry
  }

  /** A connection of `id` can take streams again (new, or a GOAWAY ended elsewhere): wake its waiters. */
  release(id: string): void {
    const set = this.waiters.get(id)
    if (set === undefined) return
    const entry = this.entries.get(id)
    for (const waiter of set) {
      const connection = entry?.pick()
      if (connection === undefined) return
      set.delete(waiter)
      clearTimeout(waiter.timer)
      waiter.resolve(connection)
    }
    this.waiters.delete(id)
  }

  remove(connection: AgentConnection): void {
    const entry = this.entries.get(connection.tunnelId)
    if (entry === undefined) return
    const i = entry.connections.indexOf(connection)
    if (i !== -1) entry.connections.splice(i, 1)
    if (entry.connections.length === 0) this.entries.delete(connection.tunnelId)
    if (this.disconnectedAt.size >= MAX_REMEMBERED_DISCONNECTS) {
      const oldest = this.disconnectedAt.keys().next().value
      if (oldest !== undefined) this.disconnectedAt.delete(oldest)
    }
    this.disconnectedAt.delete(connection.tunnelId)
    this.disconnectedAt.set(connection.tunnelId, Date.now())
  }

  /** Every live connection (for GOAWAY on shutdown). */
  *connections(): IterableIterator<AgentConnection> {
    for (const entry of this.entries.values()) yield* entry.connections
  }

  get tunnelCount(): number {
    return this.entries.size
  }
}
