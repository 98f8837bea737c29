/**
 * The in-memory cluster: the default when no Redis is configured, one process.
 * Instances made on the same MemoryHub share state and reach each other on
 * the bus, so tests can run two "instances" in one process without a network.
 */
import { ClusterError, ClusterErrorCode } from './errors.js'
import { Lifecycle } from './lifecycle.js'
import { MemoryRateBuckets } from './memory-rates.js'
import { badOption, checkCommonOptions, checkFunction, checkTtl, type CommonClusterOptions } from './options.js'
import { checkId, checkRecord } from './record.js'
import type { Cluster, MessageBus, Presence, TunnelRecord, TunnelStore } from './types.js'

type BusHandler = (message: Buffer) => void

/** Announces between two sweeps of every presence entry (expired entries of tunnels nobody looks up). */
const PRESENCE_SWEEP_EVERY = 1024

/** What instances on one hub share: the in-process stand-in for Redis. */
export class MemoryHub {
  readonly records = new Map<string, TunnelRecord>()
  readonly revoked = new Set<string>()
  /** ownerKeyHash → ids it owns. */
  readonly owners = new Map<string, Set<string>>()
  /** tunnelId → (instanceId → expires at, epoch ms). */
  readonly presence = new Map<string, Map<string, number>>()
  /** instanceId → the bus that receives its messages. */
  readonly subscribers = new Map<string, MemoryBus>()
  announcesSinceSweep = 0
  /** Token buckets, made on first use with the first instance's clock. */
  rates: MemoryRateBuckets | undefined
}

export function createMemoryHub(): MemoryHub {
  return new MemoryHub()
}

export interface MemoryClusterOptions extends CommonClusterOptions {
  /** Share state with other instances on this hub; a private hub when absent. */
  hub?: MemoryHub
}

export const memoryClusterDefaults = {
  now: Date.now,
} as const

function copy(record: TunnelRecord): TunnelRecord {
  return structuredClone(record)
}

class MemoryStore implements TunnelStore {
  readonly #hub: MemoryHub
  readonly #life: Lifecycle

  constructor(hub: MemoryHub, life: Lifecycle) {
    this.#hub = hub
    this.#life = life
  }

  async get(id: string): Promise<TunnelRecord | null> {
    this.#life.check()
    const record = this.#hub.records.get(id)
    return record === undefined ? null : copy(record)
  }

  async put(record: TunnelRecord): Promise<void> {
    this.#life.check()
    checkRecord(record)
    this.#write(record)
  }

  async create(record: TunnelRecord): Promise<boolean> {
    this.#life.check()
    checkRecord(record)
    if (this.#hub.records.has(record.id) || this.#hub.revoked.has(record.id)) return false
    this.#write(record)
    return true
  }

  async touch(id: string, at: number): Promise<void> {
    this.#life.check()
    const record = this.#hub.records.get(id)
    if (record !== undefined && at > record.lastSeenAt) record.lastSeenAt = at
  }

  async revoke(id: string): Promise<void> {
    this.#life.check()
    checkId(id)
    this.#remove(id)
    this.#hub.revoked.add(id)
  }

  async isRevoked(id: string): Promise<boolean> {
    this.#life.check()
    return this.#hub.revoked.has(id)
  }

  /** Oldest first, like the Redis sorted set. A scan: one process holds few enough tunnels. */
  async idleSince(before: number, limit: number): Promise<string[]> {
    this.#life.check()
    const idle: TunnelRecord[] = []
    for (const record of this.#hub.records.values()) if (record.lastSeenAt < before) idle.push(record)
    idle.sort((a, b) => a.lastSeenAt - b.lastSeenAt)
    return idle.slice(0, Math.max(0, limit)).map((r) => r.id)
  }

  async countByOwner(ownerKeyHash: string): Promise<number> {
    this.#life.check()
    return this.#hub.owners.get(ownerKeyHash)?.size ?? 0
  }

  #write(record: TunnelRecord): void {
    this.#remove(record.id)
    this.#hub.records.set(record.id, copy(record))
    if (record.ownerKeyHash !== undefined) {
      let owned = this.#hub.owners.get(record.ownerKeyHash)
      if (owned === undefined) this.#hub.owners.set(record.ownerKeyHash, (owned = new Set()))
      owned.add(record.id)
    }
  }

  #remove(id: string): void {
    const old = this.#hub.records.get(id)
    if (old === undefined) return
    this.#hub.records.delete(id)
    if (old.ownerKeyHash === undefined) return
    const owned = this.#hub.owners.get(old.ownerKeyHash)
    owned?.delete(id)
    if (owned?.size === 0) this.#hub.owners.delete(old.ownerKeyHash)
  }
}

/** Expiry is checked when entries are read: no timer per entry. */
class MemoryPresence implements Presence {
  readonly #hub: MemoryHub
  readonly #life: Lifecycle
  readonly #now: () => number

  constructor(hub: MemoryHub, life: Lifecycle, now: () => number) {
    this.#hub = hub
    this.#life = life
    this.#now = now
  }

  async announce(tunnelId: string, instanceId: string, ttlMs: number): Promise<void> {
    this.#life.check()
    checkTtl(ttlMs)
    let holders = this.#hub.presence.get(tunnelId)
    if (holders === undefined) this.#hub.presence.set(tunnelId, (holders = new Map()))
    holders.set(instanceId, this.#now() + ttlMs)
    if (++this.#hub.announcesSinceSweep >= PRESENCE_SWEEP_EVERY) this.#sweepAll()
  }

  async withdraw(tunnelId: string, instanceId: string): Promise<void> {
    this.#life.check()
    const holders = this.#hub.presence.get(tunnelId)
    if (holders === undefined) return
    holders.delete(instanceId)
    if (holders.size === 0) this.#hub.presence.delete(tunnelId)
  }

  async lookup(tunnelId: string): Promise<string[]> {
    this.#life.check()
    const holders = this.#hub.presence.get(tunnelId)
    if (holders === undefined) return []
    this.#prune(tunnelId, holders, this.#now())
    return [...holders.keys()]
  }

  #prune(tunnelId: string, holders: Map<string, number>, now: number): void {
    for (const [instanceId, expiresAt] of holders) if (expiresAt <= now) holders.delete(instanceId)
    if (holders.size === 0) this.#hub.presence.delete(tunnelId)
  }

  #sweepAll(): void {
    this.#hub.announcesSinceSweep = 0
    const now = this.#now()
    for (const [tunnelId, holders] of this.#hub.presence) this.#prune(tunnelId, holders, now)
  }
}

/** Delivery on a later tick, like a broker: a publisher never runs its peer's handler re-entrantly. */
function deliver(bus: MemoryBus, message: Buffer): void {
  bus.receive(message)
}

class MemoryBus implements MessageBus {
  readonly instanceId: string
  readonly #hub: MemoryHub
  readonly #life: Lifecycle
  readonly #onError: (error: unknown) => void
  #handler: BusHandler | null = null

  constructor(instanceId: string, hub: MemoryHub, life: Lifecycle, onError: (error: unknown) => void) {
    this.instanceId = instanceId
    this.#hub = hub
    this.#life = life
    this.#onError = onError
  }

  async subscribe(handler: BusHandler): Promise<void> {
    this.#life.check()
    checkFunction('handler', handler)
    if (this.#handler !== null) {
      throw new ClusterError(ClusterErrorCode.BUS_SUBSCRIBED, `bus of instance ${this.instanceId} already has a handler`)
    }
    this.#handler = handler
    this.#hub.subscribers.set(this.instanceId, this)
  }

  async publish(instanceId: string, message: Buffer): Promise<boolean> {
    this.#life.check()
    const target = this.#hub.subscribers.get(instanceId)
    if (target === undefined) return false
    process.nextTick(deliver, target, message)
    return true
  }

  /** Runs the handler; a throwing handler goes to this instance's onError, never up the stack. */
  receive(message: Buffer): void {
    if (this.#handler === null) return // closed between publish and delivery: lost, as on Redis
    try {
      this.#handler(message)
    } catch (error) {
      this.#onError(error)
    }
  }

  /** Stops delivery to this instance (only if the hub still points at our handler). */
  unsubscribe(): void {
    if (this.#hub.subscribers.get(this.instanceId) === this) {
      this.#hub.subscribers.delete(this.instanceId)
    }
    this.#handler = null
  }
}

function ignore(): void {}

/**
 * @example
 * const hub = createMemoryHub()
 * const a = createMemoryCluster({ instanceId: 'a', hub })
 * const b = createMemoryCluster({ instanceId: 'b', hub })
 * await b.bus.subscribe((m) => console.log(m.length))
 * await a.bus.publish('b', Buffer.from([1, 2, 3]))
 */
export function createMemoryCluster(options: MemoryClusterOptions): Cluster {
  checkCommonOptions(options)
  if (options.hub !== undefined && !(options.hub instanceof MemoryHub)) {
    badOption('hub', 'must be a MemoryHub made by createMemoryHub()')
  }
  const hub = options.hub ?? createMemoryHub()
  const now = options.now ?? memoryClusterDefaults.now
  const onError = options.onError ?? ignore
  const life = new Lifecycle()
  const bus = new MemoryBus(options.instanceId, hub, life, onError)
  return {
    kind: 'memory',
    store: new MemoryStore(hub, life),
    presence: new MemoryPresence(hub, life, now),
    bus,
    rates: (hub.rates ??= new MemoryRateBuckets(now)),
    healthy: () => !life.closed,
    async close() {
      if (life.closed) return
      life.closed = true
      bus.unsubscribe()
    },
  }
}
