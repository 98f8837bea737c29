import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatBytes, formatDuration, formatRate, parseBoolean, parseBytes, parseDuration, parseInteger, parseRate } from '../../../src/config/parse.js'
import { ErrorCode } from '../../../src/errors.js'

test('parseDuration reads ms, s, m, h, and 0 alone', () => {
  const cases: Array<[string, number]> = [
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 10s ', 10_000],
    ['0', 0],
  ]
  for (const [text, ms] of cases) assert.equal(parseDuration('--timeout', text), ms, text)
})

test('parseDuration refuses anything else with ADIT_ERR_CONFIG', () => {
  for (const text of ['', 'abc', '-1s', '1d', '1 s', '1S', 's', '1.s', '1e3', '500']) {
    assert.throws(() => parseDuration('--timeout', text), { code: ErrorCode.CONFIG }, JSON.stringify(text))
  }
})

test('a duration without a unit is refused, and the error names the fix', () => {
  assert.throws(
    () => parseDuration('--response-timeout', '60'),
    (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('60s') && error.message.includes('60ms'),
  )
})

test('formatDuration, formatBytes and formatRate write what the parsers read, in the largest unit', () => {
  assert.equal(formatDuration(3_000_000), '50m')
  assert.equal(formatDuration(30_000), '30s')
  assert.equal(formatDuration(7 * 24 * 3_600_000), '168h')
  assert.equal(formatDuration(1500), '1500ms')
  assert.equal(formatDuration(0), '0')
  assert.equal(formatBytes(16 * 1024), '16k')
  assert.equal(formatBytes(32 * 1024 ** 2), '32m')
  assert.equal(formatBytes(1000), '1000')
  assert.equal(formatRate({ ratePerSec: 0.5, burst: 30 }), '30/m')
  for (const text of ['30/m', '5/s', '100/h']) assert.equal(formatRate(parseRate('x', text)), text)
  for (const ms of [1, 999, 1000, 61_000, 3_600_000, 5_400_000]) assert.equal(parseDuration('x', formatDuration(ms)), ms)
  for (const n of [1, 1023, 1024, 65_541, 1024 ** 3]) assert.equal(parseBytes('x', formatBytes(n)), n)
})

test('parseInteger reads whole numbers and refuses the rest', () => {
  assert.equal(parseInteger('--port', '8080'), 8080)
  assert.equal(parseInteger('--port', ' 0 '), 0)
  for (const text of ['', '-1', '1.5', '0x10', '1e3', 'eight']) {
    assert.throws(() => parseInteger('--port', text), { code: ErrorCode.CONFIG }, JSON.stringify(text))
  }
})

test('parseBytes reads b, k/kb/kib, m/mb/mib, g/gb/gib in any case, and bare bytes', () => {
  const cases: Array<[string, number]> = [
    ['1048576', 1_048_576],
    ['10b', 10],
    ['16k', 16 * 1024],
    ['16KB', 16 * 1024],
    ['16KiB', 16 * 1024],
    ['1m', 1024 ** 2],
    ['2 MB', 2 * 1024 ** 2],
    ['1mib', 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1GiB', 1024 ** 3],
  ]
  for (const [text, bytes] of cases) assert.equal(parseBytes('--max-body', text), bytes, text)
})

test('parseBytes refuses anything else with ADIT_ERR_CONFIG', () => {
  for (const text of ['', 'k', '1.5m', '-1', '1t', '1kbs', 'lots']) {
    assert.throws(() => parseBytes('--max-body', text), { code: ErrorCode.CONFIG }, JSON.stringify(text))
  }
})

test('parseBoolean reads the usual spellings; empty is false; anything else is ADIT_ERR_CONFIG', () => {
  for (const text of ['1', 'true', 'TRUE', 'yes', 'on', ' On ']) assert.equal(parseBoolean('TRUST_PROXY', text), true, text)
  for (const text of ['0', 'false', 'False', 'no', 'off', '']) assert.equal(parseBoolean('TRUST_PROXY', text), false, text)
  for (const text of ['2', 'y', 'enabled', 'truee']) {
    assert.throws(() => parseBoolean('TRUST_PROXY', text), { code: ErrorCode.CONFIG }, text)
  }
})
