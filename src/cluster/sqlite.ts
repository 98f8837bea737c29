/**
 * The SQLite cluster: one server whose state survives restarts. The tunnel
 * store is a SQLite file in the data directory; presence, rate buckets and
 * the bus are the in-memory ones (one process has nobody to share them with). Instances made
 * on the same SqliteFile and MemoryHub share state, so the contract suite
 * runs against it like against memory and Redis.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { Lifecycle } from './lifecycle.js'
import { createMemoryCluster, type MemoryHub } from './memory.js'
import { badOption, checkCommonOptions, type CommonClusterOptions } from './options.js'
import { SqliteFile, SqliteTunnelStore } from './sqlite-store.js'
import type { SqliteDriverName } from './sqlite-driver.js'
import type { Cluster } from './types.js'

export { SqliteFile } from './sqlite-store.js'
export { SqliteDriverName } from './sqlite-driver.js'

/** The database file inside a data directory. */
export const STORE_FILE = 'adit-store.db'

/**
 * The default data directory: `$XDG_STATE_HOME/adit`, else
 * `~/.local/state/adit` (state, not configuration or cache: it must be kept).
 */
export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_STATE_HOME !== undefined && env.XDG_STATE_HOME !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state')
  return join(base, 'adit')
}

/**
 * Creates `dir` (and its parents) with mode 0700 when absent, and returns
 * whether an existing one is readable by others (the caller warns).
 */
export function prepareDataDir(dir: string): { created: boolean; openToOthers: boolean } {
  let created = false
  try {
    statSync(dir)
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    chmodSync(dir, 0o700)
    created = true
  }
  const stats = statSync(dir)
  if (!stats.isDirectory()) badOption('dataDir', `${dir} is not a directory`)
  return { created, openToOthers: (stats.mode & 0o077) !== 0 }
}

export interface SqliteClusterOptions extends CommonClusterOptions {
  /** An open store file (shared by instances in tests); or give `dataDir`. */
  file?: SqliteFile
  /** Folder for the store file, created 0700 when absent. */
  dataDir?: string
  /** Only this driver; the first that loads otherwise. */
  driver?: SqliteDriverName
  /** Share presence and bus with other in-process instances (tests). */
  hub?: MemoryHub
}

/**
 * @example
 * const cluster = createSqliteCluster({ instanceId: 'solo', dataDir: defaultDataDir() })
 * await cluster.store.revoke('abc') // still revoked after a restart
 */
export function createSqliteCluster(options: SqliteClusterOptions): Cluster & { readonly file: SqliteFile } {
  checkCommonOptions(options)
  if (options.file === undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) badOption('dataDir', 'must be a non-empty path')
  if (options.file !== undefined && !(options.file instanceof SqliteFile)) badOption('file', 'must be a SqliteFile')
  const owned = options.file === undefined
  let file = options.file
  if (file === undefined) {
    prepareDataDir(options.dataDir!)
    file = new SqliteFile({ path: join(options.dataDir!, STORE_FILE), driver: options.driver, onError: options.onError })
  }
  const memory = createMemoryCluster({ instanceId: options.instanceId, hub: options.hub, now: options.now, onError: options.onError })
  const life = new Lifecycle()
  const store = new SqliteTunnelStore(file, life, options.now ?? Date.now)
  const opened = file
  return {
    kind: 'sqlite',
    file: opened,
    store,
    presence: memory.presence,
    rates: memory.rates,
    bus: memory.bus,
    healthy: () => !life.closed && !opened.closed,
    async close() {
      if (life.closed) return
      life.closed = true
      await memory.close()
      if (owned) opened.close()
    },
  }
}
