import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectionAge } from '../../../src/agent/tunnel.js'
import { serverConfig } from '../../../src/config/server-settings.js'
import { CLOUD_RUN_DEFAULT_TIMEOUT_MS } from '../../../src/config/server-table.js'
import { resolveServerOptions } from '../../../src/server/config.js'

test('connection age: half the service timeout the server told, unless --max-connection-age is shorter', () => {
  assert.equal(connectionAge(50 * 60_000, undefined), 50 * 60_000)
  assert.equal(connectionAge(50 * 60_000, 300_000), 150_000)
  assert.equal(connectionAge(60_000, 300_000), 60_000)
  // --max-connection-age 0 (never) cannot outlive a front end that cuts the connection anyway.
  assert.equal(connectionAge(0, 3_600_000), 1_800_000)
  assert.equal(connectionAge(0, undefined), 0)
})

test('service timeout: 300 s on Cloud Run unless set, none elsewhere, 0 turns it off', () => {
  assert.equal(CLOUD_RUN_DEFAULT_TIMEOUT_MS, 300_000)
  assert.equal(serverConfig({}, { K_SERVICE: 'adit' }).options.serviceTimeoutMs, 300_000)
  assert.equal(serverConfig({ serviceTimeout: '3600s' }, { K_SERVICE: 'adit' }).options.serviceTimeoutMs, 3_600_000)
  assert.equal(serverConfig({}, {}).options.serviceTimeoutMs, undefined)
  assert.equal(serverConfig({ serviceTimeout: '0' }, { K_SERVICE: 'adit' }).options.serviceTimeoutMs, undefined)
  assert.throws(() => resolveServerOptions({ serviceTimeoutMs: 10 }), /serviceTimeoutMs/)
})
