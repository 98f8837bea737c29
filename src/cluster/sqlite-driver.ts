/**
 * The SQLite driver, picked at run time: `better-sqlite3` (a native addon,
 * an optional dependency) when it loads, else `node:sqlite` (built into
 * Node ≥ 22.13). A better-sqlite3 built for another Node version, or one
 * whose install script was blocked (npx, `--ignore-scripts`), does not load:
 * then node:sqlite is used where the Node version has it, and otherwise the
 * error says what to do instead of crashing. Both are synchronous; the store
 * uses positional parameters only, which both drivers bind alike.
 */
import { createRequire } from 'node:module'
import { ClusterError, ClusterErrorCode } from './errors.js'

export const SqliteDriverName = {
  BETTER_SQLITE3: 'better-sqlite3',
  NODE_SQLITE: 'node:sqlite',
} as const
export type SqliteDriverName = (typeof SqliteDriverName)[keyof typeof SqliteDriverName]

export type SqliteValue = string | number | null

export interface SqliteStatement {
  run(...params: SqliteValue[]): { changes: number | bigint }
  get(...params: SqliteValue[]): Record<string, unknown> | undefined
  all(...params: SqliteValue[]): Array<Record<string, unknown>>
}

/** The part of a database handle the store uses; both drivers have exactly this shape. */
export interface SqliteDatabase {
  exec(sql: string): void
  prepare(sql: string): SqliteStatement
  close(): void
}

export interface OpenedDatabase {
  db: SqliteDatabase
  driver: SqliteDriverName
}

type Opener = (path: string) => SqliteDatabase

const require = createRequire(import.meta.url)

function betterSqlite3(): Opener {
  const Database = require('better-sqlite3') as new (path: string) => SqliteDatabase
  return (path) => new Database(path)
}

function nodeSqlite(): Opener {
  const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:sqlite') as
    { DatabaseSync: new (path: string) => SqliteDatabase } | undefined
  if (builtin === undefined) throw new Error(`node:sqlite is not available in Node ${process.versions.node} (it is in Node 22.13 and later)`)
  return (path) => new builtin.DatabaseSync(path)
}

const drivers: Record<SqliteDriverName, () => Opener> = {
  [SqliteDriverName.BETTER_SQLITE3]: betterSqlite3,
  [SqliteDriverName.NODE_SQLITE]: nodeSqlite,
}

/**
 * Opens `path` with the first driver that works (or only `only`, e.g. from
 * `ADIT_SQLITE_DRIVER`). Throws ADIT_ERR_CLUSTER_UNAVAILABLE naming every
 * driver's failure and the ways out.
 */
export function openSqlite(path: string, only?: SqliteDriverName): OpenedDatabase {
  const order = only !== undefined ? [only] : [SqliteDriverName.BETTER_SQLITE3, SqliteDriverName.NODE_SQLITE]
  const failures: string[] = []
  for (const driver of order) {
    const pick = drivers[driver]
    if (pick === undefined) throw new ClusterError(ClusterErrorCode.BAD_OPTION, `cluster option sqliteDriver must be one of ${Object.keys(drivers).join(', ')}`)
    let open: Opener
    try {
      open = pick()
    } catch (error) {
      failures.push(`${driver}: ${firstLine(error)}`)
      continue
    }
    try {
      return { db: open(path), driver }
    } catch (error) {
      // better-sqlite3 loads its addon at the first open: a missing or foreign build fails here.
      if (isAddonFailure(error)) {
        failures.push(`${driver}: ${firstLine(error)}`)
        continue
      }
      throw new ClusterError(ClusterErrorCode.UNAVAILABLE, `cannot open the store at ${path}: ${firstLine(error)}`, { cause: error })
    }
  }
  throw new ClusterError(
    ClusterErrorCode.UNAVAILABLE,
    `no SQLite driver could be loaded (${failures.join('; ')}). Fix one of: run \`npm rebuild better-sqlite3\` (its install script may have been skipped), ` +
      'use Node 22.13 or later (node:sqlite), or start with --store memory (nothing survives a restart) or REDIS_URL',
  )
}

/** The error's message on one line, cut to a readable length. */
function firstLine(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim()
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

function isAddonFailure(error: unknown): boolean {
  const text = error instanceof Error ? `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}` : ''
  return /bindings|NODE_MODULE_VERSION|ERR_DLOPEN_FAILED|Could not locate|invalid ELF|\.node/.test(text)
}
