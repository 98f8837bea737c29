import type { TunnelStore } from '../../cluster/types.js'

export interface IdleSweeperOptions {
  store: TunnelStore
  /** A tunnel with no agent for this long is revoked (ms). */
  ttlMs: number
  /** Time between sweeps (ms). */
  intervalMs: number
  /** Tunnels with a live agent on this instance: marked seen on every sweep, never expired. */
  liveTunnelIds(): Iterable<string>
  /** Revokes and disconnects one expired tunnel. */
  expire(id: string): Promise<void>
  onError?(error: unknown): void
  now?: () => number
}

/**
 * Time between sweeps for a TTL: a quarter of it, at least 10 ms, at most a
 * minute. An instance learns that another one holds an agent only from that
 * instance's touches, written once per sweep, so the interval must stay well
 * below the TTL: a floor of 1 s let a TTL under ~1 s expire, from the other
 * instance, a tunnel whose agent was connected all along.
 */
export function idleSweepInterval(ttlMs: number): number {
  return Math.max(10, Math.min(60_000, Math.floor(ttlMs / 4)))
}

/** Ids looked at per sweep at most, so one sweep stays short. */
const BATCH = 256

/**
 * `TUNNEL_IDLE_TTL`: tunnels whose agent has been away longer than the TTL
 * are revoked. Each instance first marks the tunnels it holds live agents
 * for, so with several instances a tunnel is idle only when nobody holds it.
 * One unref'd interval timer; a sweep never overlaps the previous one.
 */
export class IdleSweeper {
  private readonly options: IdleSweeperOptions
  private timer: NodeJS.Timeout | undefined
  private running: Promise<number> | undefined
  /** Tunnels expired so far. */
  expired = 0

  constructor(options: IdleSweeperOptions) {
    this.options = options
  }

  start(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => {
      if (this.running === undefined) void this.sweep()
    }, this.options.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** One sweep; resolves with the number of tunnels expired. */
  sweep(): Promise<number> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async sweepOnce(): Promise<number> {
    const { store, ttlMs } = this.options
    const now = (this.options.now ?? Date.now)()
    let count = 0
    try {
      const live = new Set(this.options.liveTunnelIds())
      for (const id of live) await store.touch(id, now)
      const idle = await store.idleSince(now - ttlMs, BATCH)
      for (const id of idle) {
        if (live.has(id)) continue
        await this.options.expire(id)
        count++
      }
    } catch (error) {
      this.options.onError?.(error)
    }
    this.expired += count
    return count
  }
}
