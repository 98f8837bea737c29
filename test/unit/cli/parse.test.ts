import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseBoolean, parseBytes, parseDuration, parseInteger } from '../../../src/cli/parse.js'
import { ErrorCode } from '../../../src/errors.js'

test('parseDuration reads ms, s, m, h and bare milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['500ms', 500],
    ['500', 500],
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
  for (const text of ['', 'abc', '-1s', '1d', '1 s', '1S', 's', '1.s', '1e3']) {
    assert.throws(() => parseDuration('--timeout', text), { code: ErrorCode.CONFIG }, JSON.stringify(text))
  }
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
