/**
 * TunnelStore in an embedded SQLite file: the default for one server, so
 * records, names and their owners, access rules, secret generations and
 * revocations survive a restart. Same layout idea as Redis (redis-store.ts):
 * the record as JSON beside `seen` (last-seen, its own column so a touch
 * rewrites one number) and `owner`; revocations in their own table.
 *
 * Hot path: WAL, prepared statements, one statement per read (µs), and
 * last-seen touches batched into one transaction per `touchFlushMs` (an
 * agent connecting must not wait for an fsync). Every write is committed
 * before it resolves. Registrations commit with `synchronous = NORMAL`
 * (WAL: safe from a process crash, the usual restart; an OS crash may lose
 * the last second — the agent is then refused and registers again, fail
 * closed); a revocation commits with `synchronous = FULL` (fsync'd before the
 * 204: a revoked tunnel never comes back). An fsync blocks the event loop
 * (~7 ms here), so only the rare revocation pays it.
 */
import { ClusterError, ClusterErrorCode } from './errors.js'
import type { Lifecycle } from './lifecycle.js'
import { checkId, checkRecord, decodeRecord, encodeRecord } from './record.js'
import { openSqlite, type SqliteDatabase, type SqliteDriverName, type SqliteStatement } from './sqlite-driver.js'
import type { TunnelRecord, TunnelStore } from './types.js'

const SCHEMA_VERSION = 1

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tunnels (
  id TEXT PRIMARY KEY NOT NULL,
  record TEXT NOT NULL,
  seen REAL NOT NULL,
  owner TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tunnels_seen ON tunnels (seen);
CREATE INDEX IF NOT EXISTS tunnels_owner ON tunnels (owner) WHERE owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS revoked (
  id TEXT PRIMARY KEY NOT NULL,
  at REAL NOT NULL
) WITHOUT ROWID;
`

export interface SqliteFileOptions {
  /** The database file (created if absent; its folder must exist). */
  path: string
  /** Only this driver (`ADIT_SQLITE_DRIVER`); the first that loads otherwise. */
  driver?: SqliteDriverName
  /** How often batched last-seen touches are written (ms). */
  touchFlushMs?: number
  /** Errors nobody awaits (a failed touch flush). */
  onError?: (error: unknown) => void
}

export const sqliteFileDefaults = { touchFlushMs: 1000 } as const

/**
 * One open database file, shared by the clusters made on it (like a
 * MemoryHub): the process holds it under an exclusive lock, so a second
 * server on the same data directory fails at start instead of serving from
 * a copy of the state it cannot see change.
 */
export class SqliteFile {
  readonly path: string
  readonly driver: SqliteDriverName
  readonly #db: SqliteDatabase
  readonly #s: Record<'get' | 'upsert' | 'create' | 'touch' | 'remove' | 'revoke' | 'isRevoked' | 'idle' | 'owned', SqliteStatement>
  readonly #pending = new Map<string, number>()
  readonly #timer: NodeJS.Timeout
  readonly #onError: (error: unknown) => void
  #closed = false

  constructor(options: SqliteFileOptions) {
    const opened = openSqlite(options.path, options.driver)
    this.path = options.path
    this.driver = opened.driver
    this.#db = opened.db
    this.#onError = options.onError ?? (() => {})
    try {
      this.#db.exec('PRAGMA busy_timeout = 0')
      this.#db.exec('PRAGMA locking_mode = EXCLUSIVE')
      this.#db.exec('PRAGMA journal_mode = WAL')
      this.#db.exec('PRAGMA synchronous = NORMAL')
      // Takes the exclusive lock now: a second process on this file fails here, at start.
      this.#db.exec('BEGIN EXCLUSIVE')
      this.#db.exec(SCHEMA)
      const version = Number(this.#db.prepare('PRAGMA user_version').get()?.user_version ?? 0)
      if (version > SCHEMA_VERSION) throw new Error(`the store was written by a newer adit (schema ${version}, this one knows ${SCHEMA_VERSION})`)
      this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`)
      this.#db.exec('COMMIT')
    } catch (error) {
      this.#db.close()
      const locked = /locked|busy/i.test((error as Error).message ?? '')
      throw new ClusterError(
        ClusterErrorCode.UNAVAILABLE,
        locked
          ? `the store ${options.path} is in use by another adit server; give each server its own --data-dir (or share state through REDIS_URL)`
          : `cannot open the store ${options.path}: ${(error as Error).message}`,
        { cause: error },
      )
    }
    const p = (sql: string): SqliteStatement => this.#db.prepare(sql)
    this.#s = {
      get: p('SELECT record, seen FROM tunnels WHERE id = ?'),
      upsert: p(
        'INSERT INTO tunnels (id, record, seen, owner) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record, seen = excluded.seen, owner = excluded.owner',
      ),
      create: p(
        'INSERT INTO tunnels (id, record, seen, owner) SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM revoked WHERE id = ?) ON CONFLICT (id) DO NOTHING',
      ),
      touch: p('UPDATE tunnels SET seen = ? WHERE id = ? AND seen < ?'),
      remove: p('DELETE FROM tunnels WHERE id = ?'),
      revoke: p('INSERT INTO revoked (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING'),
      isRevoked: p('SELECT 1 AS yes FROM revoked WHERE id = ?'),
      idle: p('SELECT id FROM tunnels WHERE seen < ? ORDER BY seen, id LIMIT ?'),
      owned: p('SELECT count(*) AS n FROM tunnels WHERE owner = ?'),
    }
    this.#timer = setInterval(() => this.#flushQuietly(), options.touchFlushMs ?? sqliteFileDefaults.touchFlushMs)
    this.#timer.unref()
  }

  get closed(): boolean {
    return this.#closed
  }

  get(id: string): TunnelRecord | null {
    const row = this.#s.get.get(id)
    if (row === undefined) return null
    const pending = this.#pending.get(id)
    const seen = Number(row.seen)
    return decodeRecord(String(row.record), pending !== undefined && pending > seen ? pending : seen)
  }

  put(record: TunnelRecord): void {
    this.#pending.delete(record.id)
    this.#s.upsert.run(record.id, encodeRecord(record), record.lastSeenAt, record.ownerKeyHash ?? null)
  }

  create(record: TunnelRecord): boolean {
    const { changes } = this.#s.create.run(record.id, encodeRecord(record), record.lastSeenAt, record.ownerKeyHash ?? null, record.id)
    return Number(changes) === 1
  }

  /** Remembered now, written with the next batch. */
  touch(id: string, at: number): void {
    const pending = this.#pending.get(id)
    if (pending === undefined || at > pending) this.#pending.set(id, at)
  }

  revoke(id: string, at: number): void {
    this.#pending.delete(id)
    this.#db.exec('PRAGMA synchronous = FULL')
    try {
      this.#transaction(() => {
        this.#s.remove.run(id)
        this.#s.revoke.run(id, at)
      })
    } finally {
      this.#db.exec('PRAGMA synchronous = NORMAL')
    }
  }

  isRevoked(id: string): boolean {
    return this.#s.isRevoked.get(id) !== undefined
  }

  idleSince(before: number, limit: number): string[] {
    this.flush()
    return this.#s.idle.all(before, limit).map((row) => String(row.id))
  }

  countByOwner(ownerKeyHash: string): number {
    return Number(this.#s.owned.get(ownerKeyHash)?.n ?? 0)
  }

  /** Writes the batched touches in one transaction. */
  flush(): void {
    if (this.#pending.size === 0) return
    const batch = [...this.#pending]
    this.#pending.clear()
    this.#transaction(() => {
      for (const [id, at] of batch) this.#s.touch.run(at, id, at)
    })
  }

  close(): void {
    if (this.#closed) return
    clearInterval(this.#timer)
    this.#flushQuietly()
    this.#closed = true
    this.#db.close()
  }

  #flushQuietly(): void {
    try {
      this.flush()
    } catch (error) {
      this.#onError(new ClusterError(ClusterErrorCode.UNAVAILABLE, `store ${this.path}: last-seen update failed`, { cause: error }))
    }
  }

  #transaction(body: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      body()
      this.#db.exec('COMMIT')
    } catch (error) {
      this.#db.exec('ROLLBACK')
      throw error
    }
  }
}

/** The TunnelStore face of a SqliteFile for one cluster: its own open/closed state, errors as ClusterErrors. */
export class SqliteTunnelStore implements TunnelStore {
  readonly #file: SqliteFile
  readonly #life: Lifecycle
  readonly #now: () => number

  constructor(file: SqliteFile, life: Lifecycle, now: () => number) {
    this.#file = file
    this.#life = life
    this.#now = now
  }

  async get(id: string): Promise<TunnelRecord | null> {
    return this.#call(() => this.#file.get(id))
  }

  async put(record: TunnelRecord): Promise<void> {
    this.#life.check()
    checkRecord(record)
    return this.#call(() => this.#file.put(record))
  }

  async create(record: TunnelRecord): Promise<boolean> {
    this.#life.check()
    checkRecord(record)
    return this.#call(() => this.#file.create(record))
  }

  async touch(id: string, at: number): Promise<void> {
    return this.#call(() => this.#file.touch(id, at))
  }

  async revoke(id: string): Promise<void> {
    this.#life.check()
    checkId(id)
    return this.#call(() => this.#file.revoke(id, this.#now()))
  }

  async isRevoked(id: string): Promise<boolean> {
    return this.#call(() => this.#file.isRevoked(id))
  }

  async idleSince(before: number, limit: number): Promise<string[]> {
    if (limit <= 0) return this.#call(() => [])
    return this.#call(() => this.#file.idleSince(before, limit))
  }

  async countByOwner(ownerKeyHash: string): Promise<number> {
    return this.#call(() => this.#file.countByOwner(ownerKeyHash))
  }

  #call<T>(body: () => T): T {
    this.#life.check()
    if (this.#file.closed) throw this.#life.fail(new Error(`the store ${this.#file.path} was closed`))
    try {
      return body()
    } catch (error) {
      throw this.#life.fail(error)
    }
  }
}
