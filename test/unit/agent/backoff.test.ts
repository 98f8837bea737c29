import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Backoff } from '../../../src/agent/backoff.js'

/** The largest value Math.random can return. */
const almostOne = 1 - Number.EPSILON / 2

test('with the largest random draw the delay doubles from the base each attempt', () => {
  const backoff = new Backoff(100, 1_000_000, () => almostOne)
  const delays = Array.from({ length: 6 }, () => backoff.next())
  assert.deepEqual(delays, [99, 199, 399, 799, 1599, 3199])
  assert.equal(backoff.attempts, 6)
})

test('the smallest random draw gives 0 (full jitter)', () => {
  const backoff = new Backoff(100, 10_000, () => 0)
  for (let i = 0; i < 10; i++) assert.equal(backoff.next(), 0)
})

test('the delay is capped at maxMs however many attempts fail', () => {
  const backoff = new Backoff(250, 30_000, () => almostOne)
  let last = 0
  for (let i = 0; i < 100; i++) last = backoff.next()
  assert.equal(last, 29_999)
  assert.equal(backoff.attempts, 100)
})

test('delays stay within [0, min(max, base·2^attempt)) for any random draw', () => {
  const base = 50
  const max = 5_000
  let seed = 12345
  const lcg = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
  const backoff = new Backoff(base, max, lcg)
  for (let attempt = 0; attempt < 40; attempt++) {
    const delay = backoff.next()
    const ceiling = Math.min(max, base * 2 ** attempt)
    assert.ok(Number.isInteger(delay) && delay >= 0 && delay < ceiling, `attempt ${attempt}: ${delay} not in [0, ${ceiling})`)
  }
})

test('the delay scales with the random draw (half the ceiling for 0.5)', () => {
  const backoff = new Backoff(1000, 60_000, () => 0.5)
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [500, 1000, 2000])
})

test('reset starts over from the base', () => {
  const backoff = new Backoff(100, 10_000, () => almostOne)
  backoff.next()
  backoff.next()
  backoff.next()
  backoff.reset()
  assert.equal(backoff.attempts, 0)
  assert.equal(backoff.next(), 99)
})

test('defaults to Math.random and stays in bounds', () => {
  const backoff = new Backoff(10, 100)
  for (let i = 0; i < 50; i++) {
    const delay = backoff.next()
    assert.ok(delay >= 0 && delay < 100, String(delay))
  }
})
