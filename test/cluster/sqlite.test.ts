/**
 * The contract suite against the SQLite store, once per driver that loads on
 * this Node (better-sqlite3 on the Node it was built for; node:sqlite on
 * Node ≥ 22.13), plus what only a file can do: survive a reopen, refuse a
 * second process, keep its folder private, say what to do when no driver loads.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createCluster } from '../../src/cluster/index.js'
import { createMemoryHub } from '../../src/cluster/memory.js'
import { createSqliteCluster, SqliteFile, STORE_FILE } from '../../src/cluster/sqlite.js'
import { openSqlite, SqliteDriverName } from '../../src/cluster/sqlite-driver.js'
import { record, rejectsWithCode, runClusterContract } from './contract.js'
import { tempDir } from '../harness/temp.js'

function loads(driver: SqliteDriverName): string | null {
  const dir = tempDir()
  try {
    openSqlite(join(dir.path, 'probe.db'), driver).db.close()
    return null
  } catch (error) {
    return (error as Error).message
  } finally {
    dir.remove()
  }
}

const available = Object.values(SqliteDriverName).filter((driver) => {
  const why = loads(driver)
  if (why !== null) process.stdout.write(`# sqlite driver ${driver} does not load on Node ${process.versions.node}: ${why}\n`)
  return why === null
})
test(`at least one SQLite driver loads on Node ${process.versions.node}`, () => {
  assert.ok(available.length > 0, 'neither better-sqlite3 nor node:sqlite loads')
})

for (const driver of available) {
  runClusterContract({
    name: `sqlite (${driver}, Node ${process.versions.node})`,
    async world(now) {
      const dir = tempDir()
      const file = new SqliteFile({ path: join(dir.path, STORE_FILE), driver })
      const hub = createMemoryHub()
      return {
        join: async (instanceId, options) => createSqliteCluster({ instanceId, file, hub, now, ...options }),
        async dispose() {
          file.close()
          dir.remove()
        },
      }
    },
  })

  describe(`sqlite only (${driver})`, () => {
    test('records, revocations, owners and last-seen survive closing and reopening the data directory', async (t) => {
      const dir = tempDir()
      t.after(() => dir.remove())
      const first = createSqliteCluster({ instanceId: 'a', dataDir: dir.path, driver })
      await first.store.put(record('t1', { ownerKeyHash: 'k', access: { allowIps: ['10.0.0.0/8'] }, secretGeneration: 2 }))
      assert.equal(await first.store.create(record('name-a', { name: 'name-a', ownerKeyHash: 'k' })), true)
      await first.store.revoke('t0')
      await first.store.touch('t1', 9000) // batched: written at close at the latest
      await first.close()

      const second = createSqliteCluster({ instanceId: 'b', dataDir: dir.path, driver })
      t.after(() => second.close())
      assert.deepEqual(
        await second.store.get('t1'),
        record('t1', { ownerKeyHash: 'k', access: { allowIps: ['10.0.0.0/8'] }, secretGeneration: 2, lastSeenAt: 9000 }),
      )
      assert.equal(await second.store.isRevoked('t0'), true)
      assert.equal(await second.store.create(record('t0')), false, 'a revoked id stays revoked')
      assert.equal(await second.store.create(record('name-a')), false, 'a name stays taken')
      assert.equal(await second.store.countByOwner('k'), 2)
    })

    test('the data directory is created with mode 0700', async (t) => {
      const parent = tempDir()
      t.after(() => parent.remove())
      const dataDir = join(parent.path, 'nested', 'data')
      const cluster = createSqliteCluster({ instanceId: 'a', dataDir, driver })
      t.after(() => cluster.close())
      assert.equal(statSync(dataDir).mode & 0o777, 0o700)
      assert.equal(cluster.kind, 'sqlite')
    })

    test('a second process on the same data directory is refused with ADIT_ERR_CLUSTER_UNAVAILABLE naming --data-dir', async (t) => {
      const dir = tempDir()
      t.after(() => dir.remove())
      const cluster = createSqliteCluster({ instanceId: 'a', dataDir: dir.path, driver })
      t.after(() => cluster.close())
      const module = fileURLToPath(new URL('../../src/cluster/sqlite.js', import.meta.url))
      const script = `import(${JSON.stringify(module)}).then((m) => { try { m.createSqliteCluster({ instanceId: 'b', dataDir: ${JSON.stringify(dir.path)}, driver: ${JSON.stringify(driver)} }); console.log('opened') } catch (e) { console.log(e.code + ' ' + e.message) } })`
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 })
      assert.match(child.stdout, /^ADIT_ERR_CLUSTER_UNAVAILABLE .*in use by another adit server.*--data-dir/m, child.stdout + child.stderr)
    })

    test('after close every call rejects with ADIT_ERR_CLUSTER_CLOSED; a closed file makes calls UNAVAILABLE', async (t) => {
      const dir = tempDir()
      t.after(() => dir.remove())
      const file = new SqliteFile({ path: join(dir.path, STORE_FILE), driver })
      const a = createSqliteCluster({ instanceId: 'a', file })
      await a.close()
      await rejectsWithCode(a.store.get('t1'), 'ADIT_ERR_CLUSTER_CLOSED')
      const b = createSqliteCluster({ instanceId: 'b', file })
      file.close()
      assert.equal(b.healthy(), false)
      await rejectsWithCode(b.store.get('t1'), 'ADIT_ERR_CLUSTER_UNAVAILABLE')
      await b.close()
    })
  })
}

test('createCluster picks sqlite when asked, memory by default', async (t) => {
  const dir = tempDir()
  t.after(() => dir.remove())
  const sqlite = await createCluster({ instanceId: 'a', store: 'sqlite', dataDir: dir.path })
  t.after(() => sqlite.close())
  assert.equal(sqlite.kind, 'sqlite')
  const memory = await createCluster({ instanceId: 'b' })
  t.after(() => memory.close())
  assert.equal(memory.kind, 'memory')
})

test('no driver that loads: ADIT_ERR_CLUSTER_UNAVAILABLE that says what to do', () => {
  // A Node without node:sqlite and a better-sqlite3 whose build is missing is simulated by asking for a driver that cannot load here.
  const missing = Object.values(SqliteDriverName).find((d) => !available.includes(d))
  if (missing === undefined) return
  const dir = tempDir()
  try {
    assert.throws(
      () => openSqlite(join(dir.path, 'x.db'), missing),
      (error: { code?: string; message: string }) =>
        error.code === 'ADIT_ERR_CLUSTER_UNAVAILABLE' && /npm rebuild better-sqlite3/.test(error.message) && /--store memory/.test(error.message),
    )
  } finally {
    dir.remove()
  }
})
