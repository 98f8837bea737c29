/**
 * `adit server` without Redis: opens the local store `--store` names and
 * says at start what it keeps and what it loses. sqlite (the default) keeps
 * tunnels, names and their owners, access rules, secret generations,
 * revocations and last-seen in `--data-dir`; memory keeps them in the process.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ClusterError,
  createSqliteCluster,
  defaultDataDir,
  defaultInstanceId,
  prepareDataDir,
  SqliteDriverName,
  STORE_FILE,
  StoreKind,
  type Cluster,
} from '../cluster/index.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../observability/logger.js'

export interface StoreFlags {
  store?: string
  dataDir?: string
  sqliteDriver?: string
  instanceId?: string
}

/** The store kind and driver the flags ask for; ConfigError naming a bad value. */
export function parseStoreFlags(flags: StoreFlags): { kind: StoreKind; driver: SqliteDriverName | undefined } {
  const kind = (flags.store ?? StoreKind.SQLITE) as StoreKind
  if (!Object.values(StoreKind).includes(kind)) throw new ConfigError(`--store / ADIT_STORE must be sqlite or memory, got ${JSON.stringify(flags.store)}`)
  const driver =
    flags.sqliteDriver === undefined || flags.sqliteDriver === '' || flags.sqliteDriver === 'auto' ? undefined : (flags.sqliteDriver as SqliteDriverName)
  if (driver !== undefined && !Object.values(SqliteDriverName).includes(driver)) {
    throw new ConfigError(`--sqlite-driver / ADIT_SQLITE_DRIVER must be better-sqlite3, node:sqlite or auto, got ${JSON.stringify(flags.sqliteDriver)}`)
  }
  return { kind, driver }
}

/**
 * The cluster for a single server: a SQLite one, or undefined for memory
 * (the server then makes its own). Throws ConfigError with what to do when
 * the store cannot be opened (no driver, folder in use, not writable).
 */
export async function openLocalStore(flags: StoreFlags, env: NodeJS.ProcessEnv, logger: Logger): Promise<Cluster | undefined> {
  const { kind, driver } = parseStoreFlags(flags)
  const onCloudRun = env.K_SERVICE !== undefined
  if (kind === StoreKind.MEMORY) {
    logger.warn(
      { store: 'memory' },
      '--store memory: tunnels, names and their owners, access rules, secret generations and revocations live in this process only; ' +
        'a restart forgets them all, and every agent must register again (new URL; a name goes to whoever asks first)',
    )
    return undefined
  }
  // On Cloud Run the disk is the instance's own and goes with it: a fresh folder per instance (0700), never a shared path.
  const dataDir =
    flags.dataDir !== undefined && flags.dataDir !== '' ? flags.dataDir : onCloudRun ? mkdtempSync(join(tmpdir(), 'adit-data-')) : defaultDataDir(env)
  let cluster
  try {
    const { openToOthers } = prepareDataDir(dataDir)
    if (openToOthers) logger.warn({ dataDir }, 'the data directory is readable by other users; chmod 700 it (it holds password hashes and owner key hashes)')
    cluster = createSqliteCluster({
      instanceId: flags.instanceId ?? defaultInstanceId(),
      dataDir,
      driver,
      onError: (error) => logger.warn({ err: (error as Error).message }, 'store error'),
    })
  } catch (error) {
    const why = error instanceof ClusterError || error instanceof Error ? error.message : String(error)
    throw new ConfigError(`cannot open the store in ${dataDir}: ${why}`, { cause: error })
  }
  logger.info(
    { store: 'sqlite', path: join(dataDir, STORE_FILE), driver: cluster.file.driver },
    'store: tunnels, names, access rules and revocations are kept on disk across restarts',
  )
  if (onCloudRun) {
    logger.warn(
      { store: 'sqlite', path: join(dataDir, STORE_FILE) },
      "on Cloud Run without REDIS_URL: this instance's disk does not outlive the instance; when it is replaced, every tunnel must register again (set REDIS_URL to keep them)",
    )
  }
  return cluster
}
