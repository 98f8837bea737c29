import type { AgentConnection } from './agent-connection.js'

/** The live agent connections of one tunnel on this instance. */
export class TunnelEntry {
  readonly id: string
  readonly connections: AgentConnection[] = []
  constructor(id: string) {
    this.id = id
  }

  /** The connection to open the next stream on: least streams in flight, never one going away. */
  pick(): AgentConnection | undefined {
    let best: AgentConnection | undefined
    for (const connection of this.connections) {
      if (connection.session.goingAway) continue
      if (best === undefined || connection.session.activeStreams < best.session.activeStreams) best = connection
    }
    return best
  }
}

/** Tunnel id → live connections on this instance. The cluster knows the rest. */
export class TunnelRegistry {
  private readonly entries = new Map<string, TunnelEntry>()

  get(id: string): TunnelEntry | undefined {
    return this.entries.get(id)
  }

  add(connection: AgentConnection): TunnelEntry {
    let entry = this.entries.get(connection.tunnelId)
    if (entry === undefined) {
      entry = new TunnelEntry(connection.tunnelId)
      this.entries.set(connection.tunnelId, entry)
    }
    entry.connections.push(connection)
    return entry
  }

  remove(connection: AgentConnection): void {
    const entry = this.entries.get(connection.tunnelId)
    if (entry === undefined) return
    const i = entry.connections.indexOf(connection)
    if (i !== -1) entry.connections.splice(i, 1)
    if (entry.connections.length === 0) this.entries.delete(connection.tunnelId)
  }

  /** Every live connection (for GOAWAY on shutdown). */
  *connections(): IterableIterator<AgentConnection> {
    for (const entry of this.entries.values()) yield* entry.connections
  }

  get tunnelCount(): number {
    return this.entries.size
  }
}
