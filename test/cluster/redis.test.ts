/**
 * The contract suite against a real Redis (REDIS_URL, default
 * redis://127.0.0.1:6379), plus what only Redis can do wrong: lost
 * connections, outages, the key layout. Without a Redis this file skips
 * loudly — except under CI, where it fails: CI must never skip it.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { createCluster } from '../../src/cluster/index.js'
import { createRedisCluster, redactRedisUrl, type RedisClusterOptions } from '../../src/cluster/redis.js'
import type { Cluster } from '../../src/cluster/types.js'
import { FakeClock, Inbox, record, rejectsWithCode, runClusterContract } from './contract.js'
import { adminClient, deleteKeys, REDIS_URL, redisOrSkip, runPrefix } from '../harness/cluster.js'
import { TcpProxy } from './tcp-proxy.js'

/** Unique per run, so parallel runs and leftovers never collide; every key under it is deleted at the end. */
const RUN_PREFIX = runPrefix('cluster')

if (await redisOrSkip('the Redis cluster suite')) {
  const admin = await adminClient(REDIS_URL)
  after(async () => {
    await deleteKeys(admin, RUN_PREFIX)
    admin.destroy()
  })

  let worlds = 0
  runClusterContract({
    name: 'redis',
    async world(now) {
      const keyPrefix = `${RUN_PREFIX}w${++worlds}:`
      return {
        join: (instanceId, options) => createRedisCluster({ url: REDIS_URL, keyPrefix, instanceId, now, ...options }),
        dispose: () => deleteKeys(admin, keyPrefix),
      }
    },
  })

  /** Records healthy() flips and lets a test await a pattern of them. */
  class HealthLog {
    readonly flips: boolean[] = []
    #waiting: Array<{ test: () => boolean; resolve: () => void }> = []
    readonly onHealthChange = (healthy: boolean): void => {
      this.flips.push(healthy)
      this.#waiting = this.#waiting.filter((w) => (w.test() ? (w.resolve(), false) : true))
    }
    /** Resolves once the log shows a drop (false) and, after it, a recovery (true). */
    droppedAndRecovered(from: number): Promise<void> {
      const test = (): boolean => {
        const fell = this.flips.indexOf(false, from)
        return fell !== -1 && this.flips.indexOf(true, fell) !== -1
      }
      return new Promise((resolve) => (test() ? resolve() : this.#waiting.push({ test, resolve })))
    }
    next(value: boolean, from: number): Promise<void> {
      const test = (): boolean => this.flips.indexOf(value, from) !== -1
      return new Promise((resolve) => (test() ? resolve() : this.#waiting.push({ test, resolve })))
    }
  }

  async function open(
    t: { after: (fn: () => Promise<unknown>) => void },
    options: Partial<RedisClusterOptions> & { instanceId: string },
    keyPrefix: string,
  ): Promise<Cluster> {
    const cluster = await createRedisCluster({ url: REDIS_URL, keyPrefix, reconnectBaseMs: 20, reconnectMaxMs: 200, ...options })
    t.after(() => cluster.close())
    return cluster
  }

  describe('redis only', () => {
    test('survives a killed connection: reconnects, re-subscribes, and delivers again', { timeout: 20_000 }, async (t) => {
      const keyPrefix = `${RUN_PREFIX}drop:`
      const id = `drop-${randomBytes(4).toString('hex')}`
      const health = new HealthLog()
      const errors: unknown[] = []
      const a = await open(t, { instanceId: id, onHealthChange: health.onHealthChange, onError: (e) => errors.push(e) }, keyPrefix)
      const b = await open(t, { instanceId: `${id}-b` }, keyPrefix)
      const inbox = await Inbox.on(a.bus)
      assert.equal(a.healthy(), true)
      assert.equal(await b.bus.publish(id, Buffer.from('before')), true)
      assert.ok((await inbox.next()).equals(Buffer.from('before')))

      // Kill both of a's connections (commands and bus) from the outside, as a Redis failover would.
      const list = (await admin.sendCommand(['CLIENT', 'LIST'])) as string
      const names = new Set([`adit:${id}`, `adit:${id}:bus`])
      const ids = list
        .split('\n')
        .filter((line) => names.has(/ name=(\S*)/.exec(line)?.[1] ?? ''))
        .map((line) => /(?:^| )id=(\d+)/.exec(line)![1]!)
      assert.equal(ids.length, 2, 'both connections of instance a are visible by name')
      const from = health.flips.length
      // In one transaction: a must not get one connection back before losing the other.
      const kill = admin.multi()
      for (const clientId of ids) kill.addCommand(['CLIENT', 'KILL', 'ID', clientId])
      await kill.exec()

      await health.droppedAndRecovered(from)
      assert.equal(a.healthy(), true)
      assert.ok(errors.length > 0, 'the drop was reported to onError, not thrown')
      const after = Buffer.from([0, 1, 2, 254, 255])
      assert.equal(await b.bus.publish(id, after), true, 'a is subscribed again')
      assert.ok((await inbox.next()).equals(after))
      await a.store.put(record('t-after-drop'))
      assert.notEqual(await a.store.get('t-after-drop'), null)
    })

    test('while Redis is unreachable: unhealthy, calls fail fast with ADIT_ERR_CLUSTER_UNAVAILABLE; then it recovers', { timeout: 20_000 }, async (t) => {
      const target = new URL(REDIS_URL)
      const proxy = await new TcpProxy(target.hostname, Number(target.port || 6379)).listen()
      t.after(() => proxy.close())
      const via = new URL(REDIS_URL)
      via.hostname = '127.0.0.1'
      via.port = String(proxy.port)
      const url = via.toString()
      const keyPrefix = `${RUN_PREFIX}outage:`
      const health = new HealthLog()
      const a = await open(t, { url, instanceId: 'outage-a', onHealthChange: health.onHealthChange, onError: () => {} }, keyPrefix)
      const b = await open(t, { instanceId: 'outage-b' }, keyPrefix) // straight to Redis, never cut
      const inbox = await Inbox.on(a.bus)

      const from = health.flips.length
      proxy.down()
      await health.next(false, from)
      assert.equal(a.healthy(), false)
      await rejectsWithCode(a.store.get('t1'), 'ADIT_ERR_CLUSTER_UNAVAILABLE')
      await rejectsWithCode(a.presence.lookup('t1'), 'ADIT_ERR_CLUSTER_UNAVAILABLE')
      await rejectsWithCode(a.bus.publish('outage-b', Buffer.from('x')), 'ADIT_ERR_CLUSTER_UNAVAILABLE')
      assert.equal(await b.bus.publish('outage-a', Buffer.from('lost')), false, 'nobody listens for a while it is cut off')

      proxy.up()
      await health.next(true, from)
      assert.equal(await b.bus.publish('outage-a', Buffer.from('back')), true)
      assert.ok((await inbox.next()).equals(Buffer.from('back')))
      assert.equal(inbox.received.length, 1)
    })

    test('creation fails with ADIT_ERR_CLUSTER_UNAVAILABLE when nothing answers in time', { timeout: 10_000 }, async (t) => {
      const proxy = await new TcpProxy('127.0.0.1', 1).listen()
      t.after(() => proxy.close())
      proxy.down()
      await rejectsWithCode(
        createRedisCluster({ url: `redis://:secret-pw@127.0.0.1:${proxy.port}`, instanceId: 'x', startTimeoutMs: 300, onError: () => {} }),
        'ADIT_ERR_CLUSTER_UNAVAILABLE',
      )
    })

    test('bad options are named with ADIT_ERR_CLUSTER_OPTION', async () => {
      const bad: Array<Partial<RedisClusterOptions>> = [
        { url: 'http://127.0.0.1:6379' },
        { url: 'not a url' },
        { url: REDIS_URL, keyPrefix: 5 as never },
        { url: REDIS_URL, reconnectBaseMs: 0 },
        { url: REDIS_URL, reconnectBaseMs: 500, reconnectMaxMs: 100 },
        { url: REDIS_URL, instanceId: '' },
      ]
      for (const options of bad) {
        await rejectsWithCode(createRedisCluster({ instanceId: 'x', ...options } as RedisClusterOptions), 'ADIT_ERR_CLUSTER_OPTION')
      }
    })

    test('createCluster picks Redis when given a Redis URL', { timeout: 10_000 }, async (t) => {
      const cluster = await createCluster({ redisUrl: REDIS_URL, keyPrefix: `${RUN_PREFIX}index:`, instanceId: 'index-a' })
      t.after(() => cluster.close())
      assert.equal(cluster.kind, 'redis')
      assert.equal(cluster.healthy(), true)
    })

    test('redactRedisUrl keeps host and port, drops credentials', () => {
      assert.equal(redactRedisUrl('redis://user:secret-pw@127.0.0.1:6380/2'), 'redis://127.0.0.1:6380')
    })

    test('key layout is the documented one (docs/cluster.md)', { timeout: 10_000 }, async (t) => {
      const keyPrefix = `${RUN_PREFIX}layout:`
      const clock = new FakeClock()
      const a = await open(t, { instanceId: 'layout-a', now: clock.now }, keyPrefix)
      await a.store.put(record('t1', { ownerKeyHash: 'k1', lastSeenAt: 1234 }))
      await a.store.revoke('t0')
      await a.presence.announce('t1', 'layout-a', 30_000)
      assert.equal(await admin.type(`${keyPrefix}tunnel:t1`), 'hash')
      assert.deepEqual(
        { ...(await admin.hGetAll(`${keyPrefix}tunnel:t1`)) },
        {
          record: JSON.stringify({ id: 't1', createdAt: 1000, secretGeneration: 0, ownerKeyHash: 'k1' }),
          seen: '1234',
          owner: 'k1',
        },
      )
      assert.equal(await admin.zScore(`${keyPrefix}idle`, 't1'), 1234)
      assert.deepEqual(await admin.sMembers(`${keyPrefix}owner:k1`), ['t1'])
      assert.deepEqual(await admin.sMembers(`${keyPrefix}revoked`), ['t0'])
      assert.equal(await admin.zScore(`${keyPrefix}presence:t1`, 'layout-a'), clock.ms + 30_000)
      const ttl = await admin.pTTL(`${keyPrefix}presence:t1`)
      assert.ok(ttl > 0 && ttl <= 30_000, `presence key expires on its own (pttl ${ttl})`)
      const keys: string[] = []
      for await (const batch of admin.scanIterator({ MATCH: `${keyPrefix}*` })) keys.push(...batch)
      assert.deepEqual(
        keys.sort(),
        ['idle', 'owner:k1', 'presence:t1', 'revoked', 'tunnel:t1'].map((k) => keyPrefix + k),
      )
    })

    test('the store epoch is one per contents: the same for every instance, new once the keys are gone', { timeout: 10_000 }, async (t) => {
      const keyPrefix = `${RUN_PREFIX}epoch:`
      const a = await open(t, { instanceId: 'epoch-a' }, keyPrefix)
      const b = await open(t, { instanceId: 'epoch-b' }, keyPrefix)
      const first = await a.store.epoch!()
      assert.match(first, /^[\w-]{16}$/)
      assert.equal(await b.store.epoch!(), first, 'every instance reads the epoch the first one set')
      assert.equal(await a.store.epoch!(), first, 'stable while the contents last')
      assert.equal(await admin.get(`${keyPrefix}epoch`), first)
      await deleteKeys(admin, keyPrefix)
      const second = await b.store.epoch!()
      assert.notEqual(second, first, 'a Redis that lost its keys has a new epoch')
      assert.equal(await a.store.epoch!(), second)
    })
  })
}
