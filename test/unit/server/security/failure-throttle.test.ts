import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientKeyOf, FailureThrottle } from '../../../../src/server/security/failure-throttle.js'
import { HashQueue } from '../../../../src/server/security/hash-queue.js'
import { BasicAuthVerifier } from '../../../../src/server/security/basic-auth-verifier.js'
import { hashCredentials } from '../../../../src/server/security/basic-auth.js'

function fail(throttle: FailureThrottle, key: string): void {
  const attempt = throttle.begin(key)
  assert.ok(attempt.ok, 'the attempt was allowed')
  throttle.end(key, false)
}

test('failure throttle: free failures, then a back-off that doubles up to the maximum; a success forgets the key', () => {
  let now = 1_000_000
  const throttle = new FailureThrottle({ freeFailures: 3, baseMs: 1000, maxMs: 8000, now: () => now })
  for (let i = 0; i < 3; i++) fail(throttle, 'a')
  assert.deepEqual(throttle.begin('a'), { ok: false, retryAfterSec: 1 })
  assert.ok(throttle.begin('b').ok, 'another key is not affected')
  throttle.cancel('b')
  now += 1000
  fail(throttle, 'a') // 4th failure: 2 s
  assert.deepEqual(throttle.begin('a'), { ok: false, retryAfterSec: 2 })
  now += 2000
  fail(throttle, 'a') // 5th: 4 s
  now += 4000
  fail(throttle, 'a') // 6th: 8 s (the cap)
  now += 8000
  fail(throttle, 'a') // 7th: still 8 s
  assert.deepEqual(throttle.begin('a'), { ok: false, retryAfterSec: 8 })
  now += 8000
  assert.ok(throttle.begin('a').ok)
  throttle.end('a', true)
  for (let i = 0; i < 3; i++) fail(throttle, 'a')
  assert.equal(throttle.begin('a').ok, false, 'a success started the count afresh')
})

test('failure throttle: concurrent attempts count against the free failures; past them one at a time', () => {
  let now = 0
  const throttle = new FailureThrottle({ freeFailures: 2, baseMs: 1000, maxMs: 60_000, now: () => now })
  assert.ok(throttle.begin('k').ok)
  assert.ok(throttle.begin('k').ok)
  assert.equal(throttle.begin('k').ok, false, 'a third concurrent guess waits for the first two')
  throttle.end('k', false)
  throttle.end('k', false)
  now += 1000
  assert.ok(throttle.begin('k').ok)
  assert.equal(throttle.begin('k').ok, false, 'one attempt at a time once the back-off started')
  throttle.cancel('k')
})

test('failure throttle: failures are forgotten after maxMs of quiet; keys are bounded (LRU)', () => {
  let now = 0
  const throttle = new FailureThrottle({ freeFailures: 1, baseMs: 1000, maxMs: 5000, maxKeys: 3, now: () => now })
  fail(throttle, 'x')
  assert.equal(throttle.begin('x').ok, false)
  now += 5001
  assert.ok(throttle.begin('x').ok)
  throttle.cancel('x')
  for (const key of ['p', 'q', 'r', 's']) fail(throttle, key)
  assert.ok(throttle.size <= 3)
})

test('client keys: IPv4 (and IPv4-mapped) by address, IPv6 by /64', () => {
  assert.equal(clientKeyOf('192.0.2.7'), '192.0.2.7')
  assert.equal(clientKeyOf('::ffff:192.0.2.7'), '192.0.2.7')
  assert.equal(clientKeyOf('2001:db8:1:2:aaaa::1'), clientKeyOf('2001:db8:1:2:ffff:1:2:3'))
  assert.notEqual(clientKeyOf('2001:db8:1:2::1'), clientKeyOf('2001:db8:1:3::1'))
})

test('hash queue: bounded concurrency, per-key and total queue caps (null when full), round-robin between keys', async () => {
  const queue = new HashQueue({ concurrency: 1, maxQueued: 3, maxQueuedPerKey: 2 })
  const order: string[] = []
  const gates: Array<() => void> = []
  const job = (name: string) => () =>
    new Promise<string>((resolve) => {
      order.push(name)
      gates.push(() => resolve(name))
    })
  const a1 = queue.run('a', job('a1'))
  const a2 = queue.run('a', job('a2'))
  const a3 = queue.run('a', job('a3'))
  assert.equal(queue.run('a', job('a4')), null, 'key a holds its 2 waiting jobs')
  const b1 = queue.run('b', job('b1'))
  assert.equal(queue.run('c', job('c1')), null, 'the queue holds 3 in all')
  assert.deepEqual(queue.pending, { running: 1, queued: 3 })
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setImmediate(r))
    gates.shift()!()
  }
  assert.deepEqual(await Promise.all([a1, a2, a3, b1]), ['a1', 'a2', 'a3', 'b1'])
  assert.deepEqual(order, ['a1', 'a2', 'b1', 'a3'], 'b was served before a’s second waiting job')
  assert.equal(queue.started, 4)
  assert.equal(queue.refused, 2)
})

test('basic-auth verifier: a verified credential costs no hash again; wrong ones are throttled per address and tunnel', async () => {
  const stored = await hashCredentials('alice:wonder')
  const verifier = new BasicAuthVerifier({ throttle: { freeFailures: 2 } })
  assert.deepEqual(await verifier.verify('t', '192.0.2.1', 'alice:wonder', stored), { kind: 'ok' })
  assert.deepEqual(await verifier.verify('t', '192.0.2.9', 'alice:wonder', stored), { kind: 'ok' })
  assert.equal(verifier.hashes, 1, 'the second check came from the cache')
  assert.equal(verifier.cacheHits, 1)
  const storedV = await hashCredentials('bob:builder')
  assert.deepEqual(await verifier.verify('v', '192.0.2.2', 'bob:x', storedV), { kind: 'wrong' })
  assert.deepEqual(await verifier.verify('v', '192.0.2.2', 'bob:y', storedV), { kind: 'wrong' })
  const third = await verifier.verify('v', '192.0.2.2', 'bob:builder', storedV)
  assert.equal(third.kind, 'throttled', 'a password not yet proven waits out the back-off, even the right one')
  assert.equal(verifier.hashes, 3)
  assert.deepEqual(await verifier.verify('v', '192.0.2.3', 'bob:builder', storedV), { kind: 'ok' }, 'another address counts apart')
  assert.deepEqual(await verifier.verify('t', '192.0.2.2', 'alice:wonder', stored), { kind: 'ok' }, 'a proven credential is never throttled')
})
