import type { Presence } from '../../cluster/types.js'
import type { TunnelRegistry } from '../tunnel-registry.js'

/**
 * Keeps this instance's presence entries true: announced when a tunnel's
 * agent connects here, refreshed by the relay's one timer (never a timer per
 * tunnel), withdrawn once no connection here can take streams (the last one
 * closed, or every one is going away). Cluster errors are reported, never
 * thrown: the next refresh — or the re-announce after an outage — repairs.
 */
export class PresenceKeeper {
  private readonly presence: Presence
  private readonly registry: TunnelRegistry
  private readonly instanceId: string
  private readonly ttlMs: number
  private readonly onError: (error: unknown) => void
  /** Tunnels this instance announced and has not withdrawn. */
  private readonly announced = new Set<string>()

  constructor(presence: Presence, registry: TunnelRegistry, instanceId: string, ttlMs: number, onError: (error: unknown) => void) {
    this.presence = presence
    this.registry = registry
    this.instanceId = instanceId
    this.ttlMs = ttlMs
    this.onError = onError
  }

  get count(): number {
    return this.announced.size
  }

  /** An agent connection for `tunnelId` arrived here. */
  connected(tunnelId: string): void {
    this.announce(tunnelId)
  }

  /** A connection left or was refused a stream: withdraw when nothing here can serve the tunnel. */
  check(tunnelId: string): void {
    if (this.registry.get(tunnelId)?.pick() !== undefined) return
    if (!this.announced.delete(tunnelId)) return
    this.presence.withdraw(tunnelId, this.instanceId).catch(this.onError)
  }

  /** Refresh: every tunnel that can take streams here is (re-)announced; the others withdrawn. */
  announceAll(): void {
    const seen = new Set<string>()
    for (const connection of this.registry.connections()) seen.add(connection.tunnelId)
    for (const tunnelId of seen) {
      if (this.registry.get(tunnelId)?.pick() !== undefined) this.announce(tunnelId)
      else this.check(tunnelId)
    }
    for (const tunnelId of this.announced) if (!seen.has(tunnelId)) this.check(tunnelId)
  }

  /** Shutdown: withdraw everything still announced (bounded by the caller). */
  async withdrawAll(): Promise<void> {
    const ids = [...this.announced]
    this.announced.clear()
    await Promise.all(ids.map((id) => this.presence.withdraw(id, this.instanceId).catch(this.onError)))
  }

  private announce(tunnelId: string): void {
    this.announced.add(tunnelId)
    this.presence.announce(tunnelId, this.instanceId, this.ttlMs).catch(this.onError)
  }
}
