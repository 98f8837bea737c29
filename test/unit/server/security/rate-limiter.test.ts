import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KeyedRateLimiter, TokenBucket } from '../../../../src/server/security/rate-limiter.js'
import { parseRate } from '../../../../src/config/parse.js'
import { ErrorCode } from '../../../../src/errors.js'

test('a bucket allows its burst, then refuses with Retry-After until it refills', () => {
  const bucket = new TokenBucket({ ratePerSec: 2, burst: 3 }, 0)
  for (let i = 0; i < 3; i++) assert.deepEqual(bucket.take(0), { ok: true })
  const refused = bucket.take(0)
  assert.equal(refused.ok, false)
  assert.equal(refused.ok === false && refused.retryAfterSec, 1)
  assert.equal(bucket.take(400).ok, false)
  assert.equal(bucket.take(500).ok, true)
  // Never over the burst, however long it rested.
  let allowed = 0
  for (let i = 0; i < 10; i++) if (bucket.take(1_000_000).ok) allowed++
  assert.equal(allowed, 3)
})

test('Retry-After covers a slow refill', () => {
  const bucket = new TokenBucket({ ratePerSec: 0.1, burst: 1 }, 0)
  bucket.take(0)
  const r = bucket.take(0)
  assert.equal(r.ok === false && r.retryAfterSec, 10)
})

test('keys get their own buckets; the LRU cap bounds memory and evicts the least recently used', () => {
  let now = 0
  const limiter = new KeyedRateLimiter({ ratePerSec: 1, burst: 1 }, { maxKeys: 3, now: () => now })
  assert.equal(limiter.take('a').ok, true)
  assert.equal(limiter.take('a').ok, false)
  assert.equal(limiter.take('b').ok, true)
  assert.equal(limiter.take('c').ok, true)
  assert.equal(limiter.take('a').ok, false) // refreshes a
  assert.equal(limiter.take('d').ok, true) // evicts b, the least recently used
  assert.equal(limiter.size, 3)
  assert.equal(limiter.take('a').ok, false, 'a kept its empty bucket')
  assert.equal(limiter.take('b').ok, true, 'b was forgotten: a fresh bucket')
  assert.equal(limiter.rejected, 3)
  for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`)
  assert.equal(limiter.size, 3)
  now += 1000
  assert.equal(limiter.take('k9999').ok, true)
})

test('parseRate: count per unit, the burst is the count', () => {
  assert.deepEqual(parseRate('x', '20/m'), { ratePerSec: 20 / 60, burst: 20 })
  assert.deepEqual(parseRate('x', '5/s'), { ratePerSec: 5, burst: 5 })
  assert.deepEqual(parseRate('x', '7'), { ratePerSec: 7, burst: 7 })
  for (const bad of ['', '0/s', 'fast', '5/d', '-1/s'])
    assert.throws(
      () => parseRate('x', bad),
      (e: { code?: string }) => e.code === ErrorCode.CONFIG,
    )
})
