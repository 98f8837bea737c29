/**
 * The one suite every cluster backend passes (memory, Redis): what the server
 * may rely on, whichever backend it runs with. A backend supplies fresh
 * "worlds"; instances joined to one world share state with each other only.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test, type TestContext } from 'node:test'
import type { Cluster, MessageBus, TunnelRecord } from '../../src/cluster/types.js'

export interface JoinOptions {
  onError?: (error: unknown) => void
}

export interface ClusterWorld {
  join(instanceId: string, options?: JoinOptions): Promise<Cluster>
  /** Removes whatever the world left behind (Redis keys). */
  dispose(): Promise<void>
}

export interface ContractBackend {
  name: string
  /** A fresh world; `now` is the clock its presence entries expire by. */
  world(now: () => number): Promise<ClusterWorld>
}

/** A clock tests move by hand, so expiry needs no waiting. */
export class FakeClock {
  ms = 1_700_000_000_000
  readonly now = (): number => this.ms
  advance(ms: number): void {
    this.ms += ms
  }
}

/** Messages a bus received, awaitable one by one. */
export class Inbox {
  readonly received: Buffer[] = []
  #waiters: Array<(message: Buffer) => void> = []
  #read = 0

  readonly handler = (message: Buffer): void => {
    this.received.push(message)
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) waiter(this.received[this.#read++]!)
  }

  next(): Promise<Buffer> {
    if (this.#read < this.received.length) return Promise.resolve(this.received[this.#read++]!)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  static async on(bus: MessageBus): Promise<Inbox> {
    const inbox = new Inbox()
    await bus.subscribe(inbox.handler)
    return inbox
  }
}

export function record(id: string, fields: Partial<TunnelRecord> = {}): TunnelRecord {
  return { id, createdAt: 1000, lastSeenAt: 1000, secretGeneration: 0, ...fields }
}

/** Rejects with a ClusterError carrying `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code)
    return true
  })
}

export interface Setup {
  clock: FakeClock
  join(instanceId: string, options?: JoinOptions): Promise<Cluster>
}

/** A fresh world per test; every instance and the world itself cleaned up in t.after. */
export async function setup(t: TestContext, backend: ContractBackend): Promise<Setup> {
  const clock = new FakeClock()
  const world = await backend.world(clock.now)
  const joined: Cluster[] = []
  t.after(async () => {
    await Promise.allSettled(joined.map((c) => c.close()))
    await world.dispose()
  })
  return {
    clock,
    async join(instanceId, options) {
      const cluster = await world.join(instanceId, options)
      joined.push(cluster)
      return cluster
    },
  }
}

const TIMEOUT = { timeout: 15_000 }

export function runClusterContract(backend: ContractBackend): void {
  describe(`cluster contract: ${backend.name}`, () => {
    describe('tunnel records', () => {
      test('get of an unknown id is null; put then get returns the record', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const { store } = await join('a')
        assert.equal(await store.get('nope'), null)
        const full = record('t1', {
          name: 'my-app',
          lastSeenAt: 2000,
          secretGeneration: 3,
          previousGenerationUntil: 5000,
          ownerKeyHash: 'k1',
          nonce: 'n0nce',
          access: { basicAuthHash: 'h', allowIps: ['10.0.0.0/8'], requireJwt: { issuer: 'iss', audience: 'aud' } },
        })
        await store.put(full)
        assert.deepEqual(await store.get('t1'), full)
      })

      test('put replaces a record; a returned record is a copy', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const { store } = await join('a')
        await store.put(record('t1', { secretGeneration: 1, access: { allowIps: ['1.2.3.4/32'] } }))
        await store.put(record('t1', { secretGeneration: 2 }))
        const got = await store.get('t1')
        assert.deepEqual(got, record('t1', { secretGeneration: 2 }))
        got!.secretGeneration = 99
        assert.equal((await store.get('t1'))!.secretGeneration, 2)
      })

      test('records are shared between instances of one world', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        await a.store.put(record('t1', { name: 'shared' }))
        assert.deepEqual(await b.store.get('t1'), record('t1', { name: 'shared' }))
      })

      test('a malformed record is refused with ADIT_ERR_CLUSTER_RECORD', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const { store } = await join('a')
        await rejectsWithCode(store.put(record('')), 'ADIT_ERR_CLUSTER_RECORD')
        await rejectsWithCode(store.create(record('t1', { lastSeenAt: Number.NaN })), 'ADIT_ERR_CLUSTER_RECORD')
        await rejectsWithCode(store.put(record('t1', { secretGeneration: -1 })), 'ADIT_ERR_CLUSTER_RECORD')
        assert.equal(await store.get('t1'), null)
      })

      test('create takes a free id once; the loser sees the winner untouched', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        const results = await Promise.all([a.store.create(record('name-x', { ownerKeyHash: 'ka' })), b.store.create(record('name-x', { ownerKeyHash: 'kb' }))])
        assert.deepEqual(results.slice().sort(), [false, true])
        const winner = results[0] ? 'ka' : 'kb'
        assert.equal((await a.store.get('name-x'))!.ownerKeyHash, winner)
        assert.equal(await a.store.countByOwner(winner), 1)
        assert.equal(await a.store.countByOwner(winner === 'ka' ? 'kb' : 'ka'), 0)
        assert.equal(await a.store.create(record('name-x')), false)
      })

      test('revoke removes the record, marks the id, and the id is never free again', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        await a.store.put(record('t1', { ownerKeyHash: 'k' }))
        await a.store.put(record('t2', { ownerKeyHash: 'k' }))
        assert.equal(await b.store.isRevoked('t1'), false)
        await a.store.revoke('t1')
        assert.equal(await b.store.isRevoked('t1'), true)
        assert.equal(await b.store.isRevoked('t2'), false)
        assert.equal(await b.store.get('t1'), null)
        assert.equal(await b.store.countByOwner('k'), 1)
        assert.equal(await b.store.create(record('t1')), false)
        // An id never registered can be revoked ahead of time.
        await a.store.revoke('never-seen')
        assert.equal(await b.store.isRevoked('never-seen'), true)
        assert.equal(await b.store.create(record('never-seen')), false)
      })

      test('touch moves lastSeenAt forward only, and ignores unknown ids', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const { store } = await join('a')
        await store.put(record('t1', { lastSeenAt: 1000 }))
        await store.touch('t1', 5000)
        assert.equal((await store.get('t1'))!.lastSeenAt, 5000)
        await store.touch('t1', 3000)
        assert.equal((await store.get('t1'))!.lastSeenAt, 5000)
        await store.touch('ghost', 9000)
        assert.equal(await store.get('ghost'), null)
        assert.deepEqual(await store.idleSince(Number.MAX_SAFE_INTEGER, 10), ['t1'])
      })

      test('idleSince lists ids last seen strictly before a time, oldest first, at most limit', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const { store } = await join('a')
        await store.put(record('c', { lastSeenAt: 300 }))
        await store.put(record('a', { lastSeenAt: 100 }))
        await store.put(record('b', { lastSeenAt: 200 }))
        assert.deepEqual(await store.idleSince(250, 10), ['a', 'b'])
        assert.deepEqual(await store.idleSince(250, 1), ['a'])
        assert.deepEqual(await store.idleSince(100, 10), [])
        await store.touch('a', 400)
        assert.deepEqual(await store.idleSince(350, 10), ['b', 'c'])
        await store.revoke('b')
        assert.deepEqual(await store.idleSince(350, 10), ['c'])
        await store.put(record('c', { lastSeenAt: 1000 }))
        assert.deepEqual(await store.idleSince(350, 10), [])
      })

      test('countByOwner follows create, put (owner change) and revoke', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const { store } = await join('a')
        assert.equal(await store.countByOwner('k1'), 0)
        await store.create(record('t1', { ownerKeyHash: 'k1' }))
        await store.create(record('t2', { ownerKeyHash: 'k1' }))
        await store.put(record('t3', { ownerKeyHash: 'k2' }))
        await store.put(record('t4'))
        assert.equal(await store.countByOwner('k1'), 2)
        assert.equal(await store.countByOwner('k2'), 1)
        await store.put(record('t2', { ownerKeyHash: 'k2' }))
        assert.equal(await store.countByOwner('k1'), 1)
        assert.equal(await store.countByOwner('k2'), 2)
        await store.put(record('t3'))
        assert.equal(await store.countByOwner('k2'), 1)
        await store.revoke('t1')
        assert.equal(await store.countByOwner('k1'), 0)
      })
    })

    describe('presence', () => {
      test('announce, refresh, expiry and withdraw, seen from two instances', TIMEOUT, async (t) => {
        const { join, clock } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        assert.deepEqual(await b.presence.lookup('t1'), [])
        await a.presence.announce('t1', 'a', 10_000)
        assert.deepEqual(await b.presence.lookup('t1'), ['a'])
        await b.presence.announce('t1', 'b', 10_000)
        assert.deepEqual((await a.presence.lookup('t1')).sort(), ['a', 'b'])
        assert.deepEqual(await a.presence.lookup('t2'), [])

        clock.advance(6_000)
        await a.presence.announce('t1', 'a', 10_000) // refresh: a now expires at +16s, b at +10s
        clock.advance(3_999)
        assert.deepEqual((await a.presence.lookup('t1')).sort(), ['a', 'b'])
        clock.advance(1) // exactly b's expiry: an entry is live strictly before it
        assert.deepEqual(await a.presence.lookup('t1'), ['a'])
        assert.deepEqual(await b.presence.lookup('t1'), ['a'])

        await b.presence.withdraw('t1', 'a')
        assert.deepEqual(await a.presence.lookup('t1'), [])
        await a.presence.withdraw('t1', 'a') // withdrawing twice is harmless
        await a.presence.withdraw('never', 'a')
      })

      test('every entry expires without a refresh', TIMEOUT, async (t) => {
        const { join, clock } = await setup(t, backend)
        const a = await join('a')
        await a.presence.announce('t1', 'a', 20_000)
        await a.presence.announce('t1', 'b', 20_000)
        clock.advance(20_000)
        assert.deepEqual(await a.presence.lookup('t1'), [])
        await a.presence.announce('t1', 'b', 20_000) // an expired holder can come back
        assert.deepEqual(await a.presence.lookup('t1'), ['b'])
      })

      test('a TTL that is not a positive integer is refused with ADIT_ERR_CLUSTER_OPTION', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        await rejectsWithCode(a.presence.announce('t1', 'a', 0), 'ADIT_ERR_CLUSTER_OPTION')
        await rejectsWithCode(a.presence.announce('t1', 'a', 1.5), 'ADIT_ERR_CLUSTER_OPTION')
        assert.deepEqual(await a.presence.lookup('t1'), [])
      })
    })

    describe('message bus', () => {
      test('binary payloads reach the addressed instance byte for byte, and no other', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        const c = await join('c')
        assert.equal(a.bus.instanceId, 'a')
        const toB = await Inbox.on(b.bus)
        const toC = await Inbox.on(c.bus)

        const everyByte = Buffer.alloc(256)
        for (let i = 0; i < 256; i++) everyByte[i] = i
        const big = randomBytes(1024 * 1024)
        const empty = Buffer.alloc(0)
        assert.equal(await a.bus.publish('b', everyByte), true)
        assert.equal(await a.bus.publish('b', big), true)
        assert.equal(await a.bus.publish('b', empty), true)
        assert.ok((await toB.next()).equals(everyByte))
        assert.ok((await toB.next()).equals(big))
        assert.equal((await toB.next()).length, 0)

        // Anything misrouted to c would arrive before this marker.
        const marker = Buffer.from('for c')
        assert.equal(await a.bus.publish('c', marker), true)
        assert.ok((await toC.next()).equals(marker))
        assert.equal(toC.received.length, 1)
        assert.equal(toB.received.length, 3)
      })

      test('publishing to an instance nobody listens for resolves false', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        assert.equal(await a.bus.publish('b', Buffer.from('x')), false) // b joined but never subscribed
        assert.equal(await a.bus.publish('gone', Buffer.from('x')), false)
        await Inbox.on(b.bus)
        assert.equal(await a.bus.publish('b', Buffer.from('x')), true)
      })

      test('an instance can message itself', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const inbox = await Inbox.on(a.bus)
        assert.equal(await a.bus.publish('a', Buffer.from([0, 255])), true)
        assert.ok((await inbox.next()).equals(Buffer.from([0, 255])))
      })

      test('a second subscribe is refused with ADIT_ERR_BUS_SUBSCRIBED', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        await a.bus.subscribe(() => {})
        await rejectsWithCode(
          a.bus.subscribe(() => {}),
          'ADIT_ERR_BUS_SUBSCRIBED',
        )
      })

      test('a handler that throws is reported to onError and delivery goes on', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const errors: unknown[] = []
        const a = await join('a')
        const b = await join('b', { onError: (e) => errors.push(e) })
        const inbox = new Inbox()
        await b.bus.subscribe((message) => {
          if (message[0] === 1) throw new Error('handler bug')
          inbox.handler(message)
        })
        await a.bus.publish('b', Buffer.from([1]))
        await a.bus.publish('b', Buffer.from([2]))
        assert.ok((await inbox.next()).equals(Buffer.from([2])))
        assert.equal(errors.length, 1)
      })
    })

    describe('close', () => {
      test('close is idempotent, unsubscribes, and every later call rejects with ADIT_ERR_CLUSTER_CLOSED', TIMEOUT, async (t) => {
        const { join } = await setup(t, backend)
        const a = await join('a')
        const b = await join('b')
        await Inbox.on(b.bus)
        assert.equal(b.healthy(), true)
        assert.equal(await a.bus.publish('b', Buffer.from('x')), true)
        await b.close()
        await b.close()
        assert.equal(b.healthy(), false)
        assert.equal(await a.bus.publish('b', Buffer.from('x')), false)
        await rejectsWithCode(b.store.get('t1'), 'ADIT_ERR_CLUSTER_CLOSED')
        await rejectsWithCode(b.store.put(record('t1')), 'ADIT_ERR_CLUSTER_CLOSED')
        await rejectsWithCode(b.presence.lookup('t1'), 'ADIT_ERR_CLUSTER_CLOSED')
        await rejectsWithCode(b.bus.publish('a', Buffer.from('x')), 'ADIT_ERR_CLUSTER_CLOSED')
        await rejectsWithCode(
          b.bus.subscribe(() => {}),
          'ADIT_ERR_CLUSTER_CLOSED',
        )
        // The other instance is unaffected.
        await a.store.put(record('t1'))
        assert.equal(a.healthy(), true)
        assert.notEqual(await a.store.get('t1'), null)
      })
    })
  })
}
