/**
 * What a server instance needs of shared state. Three implementations pass one
 * contract suite (test/cluster/contract.ts): SQLite (the server's default,
 * one process, state on disk), in-memory (`--store memory`, tests) and Redis
 * (`REDIS_URL`, many instances). The server reaches the
 * cluster only through these interfaces.
 */

/** Public access rules a tunnel's agent asked for (enforced by the server). */
export interface TunnelAccess {
  /** `user:password` for HTTP basic auth on public requests (stored hashed). */
  basicAuthHash?: string
  /** CIDR allow-list for public clients. */
  allowIps?: string[]
  /** Bearer-JWT check on public requests. */
  requireJwt?: { issuer?: string; audience?: string; jwksUrl?: string }
  /** Per-visitor rate limits (token buckets), for the whole tunnel or a host / path prefix; first match applies. */
  visitorLimits?: VisitorLimit[]
}

/** One per-visitor limit: each visitor (client address, or a header's value) gets its own bucket. */
export interface VisitorLimit {
  /** Public host it applies to (lowercase, no port); any when absent. */
  host?: string
  /** Path prefix (whole segments) it applies to; every path when absent. */
  path?: string
  ratePerSec: number
  burst: number
  /** `ip`, or `header:<name>` (visitors without the header share the address bucket). */
  by: string
}

/** A token bucket's size and refill. */
export interface BucketLimit {
  ratePerSec: number
  burst: number
}

export type BucketTake = { ok: true } | { ok: false; retryAfterSec: number }

/**
 * Token buckets shared by every instance (Redis), or by one process
 * (memory): a take refills the bucket for the time since the last one and
 * takes a token if there is one. Idle buckets are forgotten.
 */
export interface RateBuckets {
  take(key: string, limit: BucketLimit): Promise<BucketTake>
}

/** What survives a restart about one tunnel. Never holds a secret in clear. */
export interface TunnelRecord {
  id: string
  /** A requested name (`--name`) that became the id, if any. */
  name?: string
  createdAt: number
  lastSeenAt: number
  /** Bumped by a secret rotation; the secret is derived from (id, generation). */
  secretGeneration: number
  /** Until when the previous generation's secret is still accepted (epoch ms), after a rotation. */
  previousGenerationUntil?: number
  /** Hash of the API key that registered it, for per-key tunnel caps. */
  ownerKeyHash?: string
  /**
   * Random per registration, bound into the secret with a digest of `name`
   * and `access` (server/security/tunnel-secret.ts). Not a secret itself.
   */
  nonce?: string
  access?: TunnelAccess
}

export interface TunnelStore {
  get(id: string): Promise<TunnelRecord | null>
  /** Creates or replaces a record. */
  put(record: TunnelRecord): Promise<void>
  /**
   * Creates a record only if the id is free; false when taken (names). A
   * revoked id is never free again: its secret is derived from the id, so
   * re-creating it would bring the revoked secret back to life.
   */
  create(record: TunnelRecord): Promise<boolean>
  /** Updates lastSeenAt (never moves it backwards); no-op for an unknown id. */
  touch(id: string, at: number): Promise<void>
  /** Removes the record and marks the id revoked (checked before a record lookup). */
  revoke(id: string): Promise<void>
  isRevoked(id: string): Promise<boolean>
  /** Ids whose lastSeenAt is older than `before` (for idle expiry), at most `limit`. */
  idleSince(before: number, limit: number): Promise<string[]>
  countByOwner(ownerKeyHash: string): Promise<number>
  /**
   * A name for the store's current contents, made when it found itself
   * empty: it changes when the store lost everything under running instances
   * (a Redis restarted without persistence, a flush), and never otherwise.
   * Absent on stores whose contents live exactly as long as the process
   * that uses them (memory) or that one process owns (SQLite).
   */
  epoch?(): Promise<string>
}

/** Which instances hold a live agent connection for a tunnel. Entries expire unless refreshed. */
export interface Presence {
  /** Records (or refreshes) that `instanceId` holds an agent for `tunnelId`, for `ttlMs`. */
  announce(tunnelId: string, instanceId: string, ttlMs: number): Promise<void>
  withdraw(tunnelId: string, instanceId: string): Promise<void>
  /** Instances with a live, unexpired entry for the tunnel. */
  lookup(tunnelId: string): Promise<string[]>
}

/** Binary messages between instances. Delivery is at most once; callers handle loss with timeouts. */
export interface MessageBus {
  readonly instanceId: string
  /** Starts delivering messages addressed to this instance. One handler per bus (`ADIT_ERR_BUS_SUBSCRIBED` on a second call). */
  subscribe(handler: (message: Buffer) => void): Promise<void>
  /**
   * Sends to one instance; resolves once handed to the broker (not once
   * delivered): `true` when the target instance was listening, `false` when
   * nobody was (the instance is gone — fail fast instead of waiting for a
   * timeout). The caller must not modify `message` afterwards.
   */
  publish(instanceId: string, message: Buffer): Promise<boolean>
}

export interface Cluster {
  readonly kind: 'memory' | 'sqlite' | 'redis'
  readonly store: TunnelStore
  readonly presence: Presence
  readonly bus: MessageBus
  /** Rate-limit buckets (per-visitor limits hold across instances with Redis). */
  readonly rates: RateBuckets
  /** True while the backing store answers (readiness). */
  healthy(): boolean
  /**
   * Releases connections and stops bus delivery. Idempotent. Presence entries
   * are not withdrawn (they expire); afterwards every call rejects with
   * `ADIT_ERR_CLUSTER_CLOSED`.
   */
  close(): Promise<void>
}
