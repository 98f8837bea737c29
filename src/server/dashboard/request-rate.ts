/**
 * Live request rate per tunnel: a ring of per-second counters (the last
 * `windowSeconds`), fed with one `record()` per finished public request.
 * Constant work per request (an index and an increment), constant memory per
 * tunnel, and at most `maxTunnels` tunnels tracked (the least recently
 * active is forgotten first).
 */

export interface RequestRatesOptions {
  /** Seconds of history kept per tunnel. */
  windowSeconds: number
  /** Tunnels tracked at most. */
  maxTunnels: number
}

export const requestRatesDefaults: RequestRatesOptions = {
  windowSeconds: 60,
  maxTunnels: 10_000,
}

export interface TunnelRate {
  /** Requests in each of the last `windowSeconds` seconds, oldest first; the last is the current (partial) second. */
  perSecond: number[]
  /** Mean requests per second over the last 10 complete seconds. */
  ratePerSecond: number
  /** Requests since tracking began (or since the tunnel was last forgotten). */
  total: number
  /** Server errors (5xx or no status) since tracking began. */
  errors: number
  lastAt: number
}

class Ring {
  readonly counts: Uint32Array
  /** The second (epoch) held in slot `second % length`, for the newest slot. */
  newest: number
  total = 0
  errors = 0
  lastAt = 0

  constructor(size: number, second: number) {
    this.counts = new Uint32Array(size)
    this.newest = second
  }

  /** Zeroes the slots of the seconds between the newest one and `second`. */
  advance(second: number): void {
    if (second <= this.newest) return
    const size = this.counts.length
    if (second - this.newest >= size) this.counts.fill(0)
    else for (let s = this.newest + 1; s <= second; s++) this.counts[s % size] = 0
    this.newest = second
  }
}

export class RequestRates {
  readonly options: RequestRatesOptions
  private readonly rings = new Map<string, Ring>()

  constructor(input: Partial<RequestRatesOptions> = {}) {
    const options = { ...requestRatesDefaults, ...input }
    for (const name of ['windowSeconds', 'maxTunnels'] as const) {
      if (!Number.isSafeInteger(options[name]) || options[name] < 1)
        throw new RangeError(`request rates option ${name} must be a positive integer, got ${String(options[name])}`)
    }
    if (options.windowSeconds < 10) throw new RangeError(`request rates option windowSeconds must be at least 10, got ${options.windowSeconds}`)
    this.options = options
  }

  /** Counts one finished request of `tunnelId` at `nowMs`; `status` 0 or ≥ 500 counts as an error too. */
  record(tunnelId: string, nowMs: number, status = 200): void {
    if (tunnelId === '') return
    const second = Math.floor(nowMs / 1000)
    let ring = this.rings.get(tunnelId)
    if (ring === undefined) {
      if (this.rings.size >= this.options.maxTunnels) {
        const oldest = this.rings.keys().next().value
        if (oldest !== undefined) this.rings.delete(oldest)
      }
      ring = new Ring(this.options.windowSeconds, second)
    } else {
      // Re-insert so Map order is least recently active first.
      this.rings.delete(tunnelId)
    }
    this.rings.set(tunnelId, ring)
    ring.advance(second)
    const slot = second % ring.counts.length
    ring.counts[slot] = (ring.counts[slot] ?? 0) + 1
    ring.total++
    if (status === 0 || status >= 500) ring.errors++
    ring.lastAt = nowMs
  }

  /** The tunnels with a request in the window. */
  activeTunnels(nowMs: number): string[] {
    const since = nowMs - this.options.windowSeconds * 1000
    const ids: string[] = []
    for (const [id, ring] of this.rings) if (ring.lastAt > since) ids.push(id)
    return ids
  }

  get trackedTunnels(): number {
    return this.rings.size
  }

  rate(tunnelId: string, nowMs: number): TunnelRate {
    const size = this.options.windowSeconds
    const second = Math.floor(nowMs / 1000)
    const ring = this.rings.get(tunnelId)
    const perSecond = new Array<number>(size).fill(0)
    if (ring === undefined) return { perSecond, ratePerSecond: 0, total: 0, errors: 0, lastAt: 0 }
    for (let i = 0; i < size; i++) {
      const s = second - (size - 1) + i
      // A slot holds second s only if s is within the ring's reach of its newest second.
      if (s <= ring.newest && ring.newest - s < size) perSecond[i] = ring.counts[s % size] ?? 0
    }
    let lastTen = 0
    for (let i = size - 11; i < size - 1; i++) lastTen += perSecond[i] ?? 0
    return { perSecond, ratePerSecond: lastTen / 10, total: ring.total, errors: ring.errors, lastAt: ring.lastAt }
  }
}
