import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { nextDelay, parseRetryAfter, verdictFor, waitMessage, WaitReason } from '../../../src/agent/wait.js'

describe('wait policy: what the agent does after a failed attempt', () => {
  it('waits on no answer, 429, 408 and 5xx; stops on credentials refused and other answers', () => {
    assert.deepEqual(verdictFor({ status: 0, detail: 'ECONNREFUSED' }), { retry: true, reason: WaitReason.UNREACHABLE, minDelayMs: 0 })
    assert.deepEqual(verdictFor({ status: 429, retryAfterMs: 3000, detail: '' }), { retry: true, reason: WaitReason.RATE_LIMITED, minDelayMs: 3000 })
    for (const status of [408, 500, 502, 503, 504]) assert.equal(verdictFor({ status, detail: '' }).retry, true, String(status))
    for (const status of [400, 401, 403, 404, 409]) assert.deepEqual(verdictFor({ status, detail: '' }), { retry: false }, String(status))
  })

  it('Retry-After in seconds or as an HTTP date; garbage is ignored; capped at an hour', () => {
    assert.equal(parseRetryAfter('2'), 2000)
    assert.equal(parseRetryAfter(['7']), 7000)
    assert.equal(parseRetryAfter(undefined), undefined)
    assert.equal(parseRetryAfter('soon'), undefined)
    const now = Date.parse('2026-12-03T12:00:00Z')
    assert.equal(parseRetryAfter('Thu, 03 Dec 2026 12:00:30 GMT', now), 30_000)
    assert.equal(parseRetryAfter('Thu, 03 Dec 2026 11:00:00 GMT', now), 0)
    assert.equal(parseRetryAfter('999999'), 3600_000)
  })

  it('never retries sooner than Retry-After, with at most 10% jitter on top', () => {
    assert.equal(nextDelay(400, 0), 400)
    assert.equal(
      nextDelay(400, 2000, () => 0),
      2000,
    )
    assert.equal(
      nextDelay(400, 2000, () => 0.999),
      2200,
    )
    assert.equal(
      nextDelay(5000, 2000, () => 0.5),
      5000,
    )
  })

  it('messages name the server and the reason', () => {
    assert.match(waitMessage('http://s', { status: 0, detail: 'ECONNREFUSED' }, WaitReason.UNREACHABLE, 100), /^server http:\/\/s unreachable \(ECONNREFUSED\)/)
    assert.match(
      waitMessage('http://s', { status: 429, retryAfterMs: 2000, detail: '' }, WaitReason.RATE_LIMITED, 2100),
      /rate limited .*Retry-After 2 s.*retrying in 2\.1 s/,
    )
    assert.match(waitMessage('http://s', { status: 503, detail: 'draining' }, WaitReason.UNAVAILABLE, 100), /not serving yet \(503: draining\)/)
  })
})
