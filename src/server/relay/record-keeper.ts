import type { TunnelRecord, TunnelStore } from '../../cluster/types.js'
import type { Logger } from '../../observability/logger.js'
import type { TunnelRegistry } from '../tunnel-registry.js'
import { withTimeout } from './bounded.js'

export interface RecordKeeperHooks {
  /** Ends the tunnel's agent connections here (GOAWAY REVOKED, then close): the store says the tunnel is no longer theirs. */
  disconnect(tunnelId: string, reason: string): void
}

/** Records read or written at once in one round (each is one round trip). */
const BATCH = 64

/**
 * Keeps the records of the tunnels whose agents are connected here true in a
 * shared store that can lose its contents (a Redis restarted without
 * persistence). Each agent's record was read and its secret verified against
 * it when the agent connected; this instance remembers that record (and the
 * newer ones it reads later) for as long as the agent stays. Once a round
 * (the relay's presence refresh, and at once when the store is back after an
 * outage) finds the store's epoch changed — it lost everything — and a
 * remembered record missing, it writes that record back, as it was last read:
 * same rules, owner, nonce and secret generation, so the agent's secret still
 * verifies and nothing is served with weaker rules. It only ever *creates*
 * (never overwrites): a new registration of the same name or another instance's
 * restore wins, and the agents here are then disconnected.
 *
 * Fail closed: a record missing while the epoch is unchanged was deleted on
 * purpose (revoked, expired) and is never restored; a revoked tunnel's agents
 * here are disconnected (a revocation made on another instance reaches them
 * within one round). An epoch never read (the store was down when this
 * instance started) restores nothing.
 */
export class RecordKeeper {
  private readonly store: TunnelStore
  private readonly registry: TunnelRegistry
  private readonly logger: Logger
  private readonly callTimeoutMs: number
  private readonly hooks: RecordKeeperHooks
  /** The last record read for each tunnel with an agent here. */
  private readonly known = new Map<string, TunnelRecord>()
  /** The store epoch this instance's records belong to; undefined until read. */
  private epoch: string | undefined
  private running: Promise<void> | undefined
  /** Records written back after the store lost them (tests, logs). */
  restored = 0
  /** When a round last found the store's epoch changed (epoch ms; 0: never). */
  lostAt = 0

  constructor(store: TunnelStore, registry: TunnelRegistry, logger: Logger, callTimeoutMs: number, hooks: RecordKeeperHooks) {
    this.store = store
    this.registry = registry
    this.logger = logger
    this.callTimeoutMs = callTimeoutMs
    this.hooks = hooks
  }

  /** Reads the store's epoch before any agent connects here. Never throws (a failure means: restore nothing until the next round). */
  async start(): Promise<void> {
    if (this.store.epoch === undefined) return
    this.epoch = await this.bounded(this.store.epoch(), 'store epoch').catch(() => undefined)
  }

  /** An agent connected here with `record` verified. */
  connected(tunnelId: string, record: TunnelRecord): void {
    this.known.set(tunnelId, record)
  }

  /** One round over the tunnels with an agent here; rounds never overlap. Never rejects. */
  check(): Promise<void> {
    this.running ??= this.round()
      .catch((error: unknown) => this.logger.debug({ err: (error as Error).message }, 'tunnel record check failed; retrying at the next one'))
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  private async round(): Promise<void> {
    const readEpoch = this.store.epoch?.bind(this.store)
    if (readEpoch === undefined) return
    const live = new Set<string>()
    for (const connection of this.registry.connections()) live.add(connection.tunnelId)
    for (const id of this.known.keys()) if (!live.has(id)) this.known.delete(id)
    const epoch = await this.bounded(readEpoch(), 'store epoch')
    const lost = this.epoch !== undefined && epoch !== this.epoch
    if (lost) this.lostAt = Date.now()
    if (lost) this.logger.warn({ tunnels: this.known.size }, 'the cluster store lost its contents: writing back the records of the tunnels connected here')
    const ids = [...this.known.keys()]
    for (let i = 0; i < ids.length; i += BATCH) await Promise.all(ids.slice(i, i + BATCH).map((id) => this.checkOne(id, lost)))
    // Only a round that went through adopts the new epoch: a failed one is repeated, restores included.
    this.epoch = epoch
  }

  private async checkOne(id: string, lost: boolean): Promise<void> {
    const known = this.known.get(id)
    if (known === undefined) return
    const record = await this.bounded(this.store.get(id), 'tunnel record lookup')
    if (record !== null) return this.compare(id, known, record)
    if (!lost) {
      // Deleted on purpose: revoked (perhaps on another instance) or expired. Never restored.
      if (await this.bounded(this.store.isRevoked(id), 'revocation check')) this.drop(id, 'tunnel revoked')
      return
    }
    if (await this.bounded(this.store.create({ ...known, lastSeenAt: Math.max(known.lastSeenAt, Date.now()) }), 'tunnel record restore')) {
      this.restored++
      this.logger.info({ tunnel: id }, 'tunnel record restored (the cluster store had lost it)')
      return
    }
    // Someone wrote it first: another instance restoring the same tunnel, a new registration of its name, or a revocation.
    const now = await this.bounded(this.store.get(id), 'tunnel record lookup')
    if (now !== null) return this.compare(id, known, now)
    this.drop(id, 'tunnel revoked')
  }

  /** Another instance says `tunnelId` was revoked: if the store agrees, its agents here are disconnected now. Never rejects. */
  async revokedElsewhere(tunnelId: string): Promise<void> {
    if (!this.known.has(tunnelId)) return
    try {
      if (await this.bounded(this.store.isRevoked(tunnelId), 'revocation check')) this.drop(tunnelId, 'tunnel revoked')
    } catch (error) {
      this.logger.debug({ err: (error as Error).message, tunnel: tunnelId }, 'revocation check failed; the next round repeats it')
    }
  }

  /** Same registration (a rotation keeps it): remember the newer record. Another one: its agents here are not this tunnel's. */
  private compare(id: string, known: TunnelRecord, record: TunnelRecord): void {
    if (record.nonce === known.nonce && record.createdAt === known.createdAt) {
      this.known.set(id, record)
      return
    }
    this.drop(id, 'tunnel registered again by someone else')
  }

  private drop(id: string, reason: string): void {
    this.known.delete(id)
    this.logger.info({ tunnel: id, reason }, 'disconnecting the agents of a tunnel whose record is gone')
    this.hooks.disconnect(id, reason)
  }

  private bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(promise, this.callTimeoutMs, what)
  }
}
