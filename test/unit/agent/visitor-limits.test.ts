import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseRateLimit, visitorLimitsFor } from '../../../src/agent/visitor-limits.js'
import { MemoryRateBuckets } from '../../../src/cluster/memory-rates.js'
import { visitorLimitsFromRequest } from '../../../src/server/security/visitor-limits.js'
import { ErrorCode } from '../../../src/errors.js'

test('--rate-limit: rate per s/m/h, burst, by ip or a header', () => {
  assert.deepEqual(parseRateLimit('x', '10/s'), { rate_per_sec: 10, burst: 10 })
  assert.deepEqual(parseRateLimit('x', '120/m,burst=5,by=header:X-Api-Key'), { rate_per_sec: 2, burst: 5, by: 'header:X-Api-Key' })
  assert.deepEqual(parseRateLimit('x', '36/h'), { rate_per_sec: 0.01, burst: 1 })
  for (const bad of ['10', '0/s', '10/d', '10/s,burst=0', '10/s,by=cookie', '10/s,foo=1'])
    assert.throws(
      () => parseRateLimit('x', bad),
      (e: { code?: string }) => e.code === ErrorCode.CONFIG,
      bad,
    )
  assert.deepEqual(
    visitorLimitsFor(
      [
        { host: 'api.example.com', path: '/v1', local: 'http://127.0.0.1:1', rateLimit: { rate_per_sec: 1, burst: 1 } },
        { path: '/', local: 'http://127.0.0.1:2' },
      ],
      { rate_per_sec: 5, burst: 5 },
    ),
    [
      { host: 'api.example.com', path: '/v1', rate_per_sec: 1, burst: 1 },
      { rate_per_sec: 5, burst: 5 },
    ],
  )
  assert.equal(visitorLimitsFor(undefined, undefined), undefined)
})

test('the server checks visitor_limits from /register', () => {
  assert.deepEqual(visitorLimitsFromRequest([{ path: '/api/', rate_per_sec: 2, by: 'header:X-Api-Key' }]), [
    { ratePerSec: 2, burst: 2, by: 'header:x-api-key', path: '/api' },
  ])
  const bad = (e: { code?: string }) => e.code === ErrorCode.BAD_REQUEST
  assert.throws(() => visitorLimitsFromRequest([]), bad)
  assert.throws(() => visitorLimitsFromRequest([{ rate_per_sec: -1 }]), bad)
  assert.throws(() => visitorLimitsFromRequest([{ rate_per_sec: 1, by: 'cookie' }]), bad)
  assert.throws(() => visitorLimitsFromRequest([{ rate_per_sec: 1, path: 'api' }]), bad)
  assert.throws(() => visitorLimitsFromRequest(Array.from({ length: 65 }, () => ({ rate_per_sec: 1 }))), bad)
})

test('memory token buckets: burst, refill over time, Retry-After, one bucket per key, bounded keys', () => {
  let now = 0
  const buckets = new MemoryRateBuckets(() => now, 3)
  const limit = { ratePerSec: 0.5, burst: 2 }
  assert.equal(buckets.takeNow('a', limit).ok, true)
  assert.equal(buckets.takeNow('a', limit).ok, true)
  assert.deepEqual(buckets.takeNow('a', limit), { ok: false, retryAfterSec: 2 })
  assert.equal(buckets.takeNow('b', limit).ok, true)
  now += 2000
  assert.equal(buckets.takeNow('a', limit).ok, true, 'one token back after 2 s')
  assert.equal(buckets.takeNow('a', limit).ok, false)
  buckets.takeNow('c', limit)
  buckets.takeNow('d', limit)
  assert.equal(buckets.size, 3)
})
