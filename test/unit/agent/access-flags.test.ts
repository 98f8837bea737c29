import { test } from 'node:test'
import assert from 'node:assert/strict'
import { accessFromFlags, parseAllowIpFlag, parseRequireJwtFlag } from '../../../src/agent/access-flags.js'
import { serverConfig } from '../../../src/config/server-settings.js'
import { ErrorCode } from '../../../src/errors.js'

const isConfig = (e: { code?: string }) => e.code === ErrorCode.CONFIG

test('agent access flags become the /register access object', () => {
  assert.equal(accessFromFlags({}), undefined)
  assert.deepEqual(accessFromFlags({ basicAuth: 'u:p:q', allowIp: '10.0.0.0/8, ::1,2001:db8::/32' }), {
    basic_auth: 'u:p:q',
    allow_ips: ['10.0.0.0/8', '::1', '2001:db8::/32'],
  })
  assert.deepEqual(parseRequireJwtFlag('issuer=https://i,audience=app,jwks=https://i/jwks'), {
    jwks_url: 'https://i/jwks',
    issuer: 'https://i',
    audience: 'app',
  })
})

test('bad agent access flags are ADIT_ERR_CONFIG naming the flag', () => {
  assert.throws(() => accessFromFlags({ basicAuth: 'nopass' }), isConfig)
  assert.throws(() => accessFromFlags({ basicAuth: ':p' }), isConfig)
  assert.throws(() => parseAllowIpFlag(''), isConfig)
  assert.throws(() => parseAllowIpFlag('10.0.0.0/8/1'), isConfig)
  assert.throws(() => parseAllowIpFlag('example.com'), isConfig)
  assert.throws(() => parseRequireJwtFlag('issuer=x'), isConfig)
  assert.throws(() => parseRequireJwtFlag('jwks=https://x,color=red'), isConfig)
  assert.throws(() => accessFromFlags({ basicAuth: 'u:p', requireJwt: 'jwks=https://x' }), isConfig)
})

test('server security settings: secrets, lists, rates and durations parsed from the resolved settings', () => {
  const security = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => serverConfig(flags, env).options.security!
  const options = security(
    {
      allowOpenRegistration: 'true',
      maxTunnelsPerKey: '5',
      maxStreamsPerTunnel: '7',
      tunnelRate: '100/s',
      registerRate: '10/m',
      idleTtl: '2h',
      rotationGrace: '30s',
      apiKeys: ' a-key-0123456789 , b-key-0123456789 ,',
      jwtSecret: '',
    },
    { K_SERVICE: 'svc' },
  )
  assert.deepEqual(options.apiKeys, ['a-key-0123456789', 'b-key-0123456789'])
  assert.equal(options.jwtSecret, undefined)
  assert.equal(options.allowOpenRegistration, true)
  assert.equal(options.cloudRunService, 'svc')
  assert.equal(options.maxTunnelsPerKey, 5)
  assert.equal(options.maxStreamsPerTunnel, 7)
  assert.deepEqual(options.tunnelRate, { ratePerSec: 100, burst: 100 })
  assert.deepEqual(options.registerRate, { ratePerSec: 10 / 60, burst: 10 })
  assert.equal(options.idleTtlMs, 7_200_000)
  assert.equal(options.rotationGraceMs, 30_000)
  assert.equal(security({ idleTtl: '0', tunnelRate: '0' }).idleTtlMs, 0)
  assert.equal(security({ tunnelRate: '0' }).tunnelRate, undefined)
  assert.throws(() => security({ maxStreamsPerTunnel: 'many' }), isConfig)
  assert.throws(() => security({ allowOpenRegistration: 'perhaps' }), isConfig)
})
