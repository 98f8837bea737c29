import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveServerOptions, serverDefaults, type ServerOptions } from '../../../src/server/config.js'
import { ErrorCode } from '../../../src/errors.js'

test('no input gives the defaults, and the defaults are valid', () => {
  assert.deepEqual(resolveServerOptions(), serverDefaults)
  assert.deepEqual(resolveServerOptions({}), serverDefaults)
})

test('given options win; undefined ones fall back to the default; the defaults object is not mutated', () => {
  const before = { ...serverDefaults }
  const options = resolveServerOptions({ port: 0, host: '127.0.0.1', responseTimeoutMs: undefined, trustProxy: true })
  assert.equal(options.port, 0)
  assert.equal(options.host, '127.0.0.1')
  assert.equal(options.trustProxy, true)
  assert.equal(options.responseTimeoutMs, serverDefaults.responseTimeoutMs)
  assert.deepEqual(serverDefaults, before)
})

test('PUBLIC_BASE_URL loses its trailing slashes', () => {
  assert.equal(resolveServerOptions({ publicBaseUrl: 'https://t.example.com//' }).publicBaseUrl, 'https://t.example.com')
  assert.equal(resolveServerOptions({ publicBaseUrl: 'http://t.example.com/base/' }).publicBaseUrl, 'http://t.example.com/base')
})

test('boundary values are accepted', () => {
  const options = resolveServerOptions({
    port: 65535,
    maxHeaderBytes: 1024,
    maxFrameBytes: 64 * 1024 + 5,
    maxJsonBodyBytes: 0,
    heartbeatMs: 100,
    drainTimeoutMs: 0,
    responseTimeoutMs: 1,
  })
  assert.equal(options.port, 65535)
  assert.equal(options.maxFrameBytes, 64 * 1024 + 5)
})

const bad: Array<[string, Partial<ServerOptions>]> = [
  ['port negative', { port: -1 }],
  ['port too large', { port: 65536 }],
  ['port fractional', { port: 80.5 }],
  ['port a string', { port: '8080' as unknown as number }],
  ['port NaN', { port: Number.NaN }],
  ['responseTimeoutMs zero', { responseTimeoutMs: 0 }],
  ['headersTimeoutMs zero', { headersTimeoutMs: 0 }],
  ['keepAliveTimeoutMs zero', { keepAliveTimeoutMs: 0 }],
  ['maxHeaderBytes under 1 KiB', { maxHeaderBytes: 1023 }],
  ['maxFrameBytes under one full DATA frame', { maxFrameBytes: 64 * 1024 + 4 }],
  ['maxJsonBodyBytes negative', { maxJsonBodyBytes: -1 }],
  ['heartbeatMs under 100', { heartbeatMs: 99 }],
  ['drainTimeoutMs infinite', { drainTimeoutMs: Number.POSITIVE_INFINITY }],
  ['publicBaseUrl not a URL', { publicBaseUrl: 'tunnel.example.com' }],
  ['publicBaseUrl not http(s)', { publicBaseUrl: 'ftp://tunnel.example.com' }],
]
for (const [what, input] of bad) {
  test(`bad option: ${what} → ADIT_ERR_CONFIG`, () => {
    assert.throws(() => resolveServerOptions(input), { code: ErrorCode.CONFIG })
  })
}
