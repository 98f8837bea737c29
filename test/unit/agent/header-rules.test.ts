import { test } from 'node:test'
import assert from 'node:assert/strict'
import { applyToFlat, applyToPairs, compileHeaderRules, variablesFor } from '../../../src/agent/header-rules.js'
import { buildRouteTable } from '../../../src/agent/routes.js'
import { ErrorCode } from '../../../src/errors.js'

const isConfig = (e: { code?: string }) => e.code === ErrorCode.CONFIG
const vars = { client_ip: '203.0.113.7', request_id: 'req-1', tunnel: 'app' }

test('header rules: remove, then set (replacing every old value), then add, with variables', () => {
  const rules = compileHeaderRules(
    'r',
    { remove: ['Cookie'], set: { 'X-Env': 'prod' }, add: [['X-Via', '${tunnel}:${ client_ip }/${request_id}']] },
    'request',
  )!
  assert.equal(rules.usesVariables, true)
  const out = applyToFlat(['Cookie', 'a=1', 'x-env', 'dev', 'X-ENV', 'test', 'Accept', '*/*', 'cookie', 'b=2'], rules, vars)
  assert.deepEqual(out, ['Accept', '*/*', 'X-Env', 'prod', 'X-Via', 'app:203.0.113.7/req-1'])
  const response = compileHeaderRules('r', { remove: ['server'], add: { 'X-Frame-Options': 'DENY' } }, 'response')!
  assert.equal(response.usesVariables, false)
  assert.deepEqual(
    applyToPairs(
      [
        ['Server', 'nginx'],
        ['X-A', '1'],
      ],
      response,
      undefined,
    ),
    [
      ['X-A', '1'],
      ['X-Frame-Options', 'DENY'],
    ],
  )
  assert.equal(compileHeaderRules('r', {}, 'request'), undefined)
})

test('header rules: hop-by-hop, framing and adit’s own headers are out of reach; unknown variables and CR/LF refused', () => {
  for (const name of [
    'Connection',
    'Transfer-Encoding',
    'Upgrade',
    'Content-Length',
    'X-Forwarded-For',
    'Forwarded',
    'X-Adit-Request-Id',
    'Host',
    'Proxy-Foo',
  ]) {
    assert.throws(() => compileHeaderRules('r', { remove: [name] }, 'request'), isConfig, name)
  }
  for (const name of ['Connection', 'Keep-Alive', 'Content-Length', 'X-Adit-Request-Id', 'X-Adit-Error', 'Trailer']) {
    assert.throws(() => compileHeaderRules('r', { set: { [name]: 'x' } }, 'response'), isConfig, name)
  }
  assert.throws(() => compileHeaderRules('r', { add: { 'X-A': '${secret}' } }, 'request'), /unknown variable/)
  assert.throws(() => compileHeaderRules('r', { add: { 'X-A': 'a\r\nB: c' } }, 'request'), isConfig)
  assert.throws(() => compileHeaderRules('r', { add: { 'bad name': 'x' } }, 'request'), isConfig)
  assert.throws(() => compileHeaderRules('r', { drop: ['x'] } as never, 'request'), /unknown key/)
  assert.throws(() => buildRouteTable([{ path: '/x', status: 410, responseHeaders: { add: { a: 'b' } } }]), isConfig)
})

test('header rule variables: the client is the last X-Forwarded-For entry (the server’s), the request id the server’s', () => {
  assert.deepEqual(
    variablesFor(
      [
        ['X-Forwarded-For', '10.0.0.1, 198.51.100.2'],
        ['X-Adit-Request-Id', 'from-header'],
      ],
      undefined,
      't',
    ),
    {
      client_ip: '198.51.100.2',
      request_id: 'from-header',
      tunnel: 't',
    },
  )
  assert.equal(variablesFor([], 'head-id', 't').request_id, 'head-id')
})
