import { test } from 'node:test'
import assert from 'node:assert/strict'
import { agentDefaults, parseHostHeader, resolveAgentOptions, type AgentOptions } from '../../../src/agent/config.js'
import { ErrorCode } from '../../../src/errors.js'

test('no input gives the defaults, with the server and local URLs parsed', () => {
  const options = resolveAgentOptions({})
  const { serverUrl, localUrl, routeTable, tcpTarget, ...rest } = options
  assert.deepEqual(rest, agentDefaults)
  assert.equal(tcpTarget, undefined)
  assert.deepEqual(
    routeTable.routes.map((r) => r.label),
    ['/ → http://127.0.0.1:3000'],
    'one catch-all route to local',
  )
  assert.equal(serverUrl.href, new URL(agentDefaults.server).href)
  assert.equal(localUrl.href, new URL(agentDefaults.local).href)
})

test('given options win; undefined ones fall back; the defaults object is not mutated', () => {
  const before = { ...agentDefaults }
  const options = resolveAgentOptions({
    server: 'https://adit.example.com',
    local: 'http://[::1]:4000/',
    connections: 4,
    reconnectBaseMs: undefined,
    stateFile: null,
  })
  assert.equal(options.serverUrl.host, 'adit.example.com')
  assert.equal(options.localUrl.port, '4000')
  assert.equal(options.connections, 4)
  assert.equal(options.stateFile, null)
  assert.equal(options.reconnectBaseMs, agentDefaults.reconnectBaseMs)
  assert.deepEqual(agentDefaults, before)
})

test('connections accepts 1 to 16', () => {
  assert.equal(resolveAgentOptions({ connections: 1 }).connections, 1)
  assert.equal(resolveAgentOptions({ connections: 16 }).connections, 16)
})

const bad: Array<[string, Partial<AgentOptions>]> = [
  ['server not a URL', { server: 'adit.example.com' }],
  ['server not http(s)', { server: 'ws://adit.example.com' }],
  ['local not a URL', { local: 'not a url' }],
  ['local port out of range', { local: '70000' }],
  ['local not http(s)', { local: 'file:///etc/passwd' }],
  ['local with a path', { local: 'http://127.0.0.1:3000/app' }],
  ['local with a query', { local: 'http://127.0.0.1:3000/?x=1' }],
  ['connections zero', { connections: 0 }],
  ['connections over 16', { connections: 17 }],
  ['connections fractional', { connections: 1.5 }],
  ['localConnections zero', { localConnections: 0 }],
  ['reconnectBaseMs zero', { reconnectBaseMs: 0 }],
  ['reconnectMaxMs negative', { reconnectMaxMs: -5 }],
  ['maxFrameBytes NaN', { maxFrameBytes: Number.NaN }],
  ['maxFrameBytes a string', { maxFrameBytes: '1m' as unknown as number }],
]
for (const [what, input] of bad) {
  test(`bad option: ${what} → ADIT_ERR_CONFIG`, () => {
    assert.throws(() => resolveAgentOptions(input), { code: ErrorCode.CONFIG })
  })
}

test('parseHostHeader: rewrite, preserve or a fixed host; blank or whitespace is ADIT_ERR_CONFIG', () => {
  assert.equal(parseHostHeader('rewrite'), 'rewrite')
  assert.equal(parseHostHeader('preserve'), 'preserve')
  assert.deepEqual(parseHostHeader('app.internal:8080'), { value: 'app.internal:8080' })
  for (const value of ['', 'a b', 'host\r\nX-Evil: 1', 'tab\there']) {
    assert.throws(() => parseHostHeader(value), { code: ErrorCode.CONFIG }, JSON.stringify(value))
  }
})

test('a TCP tunnel: its target parsed, shown as tcp://host:port, and no routes', () => {
  const options = resolveAgentOptions({ tcp: '5432' })
  assert.deepEqual(options.tcpTarget, { host: 'localhost', port: 5432 })
  assert.equal(options.local, 'tcp://localhost:5432')
  assert.deepEqual(resolveAgentOptions({ tcp: '[::1]:22' }).tcpTarget, { host: '::1', port: 22 })
  assert.equal(resolveAgentOptions({ tcp: '[::1]:22' }).local, 'tcp://[::1]:22')
  assert.throws(() => resolveAgentOptions({ tcp: '5432', routes: [{ path: '/', local: 'http://127.0.0.1:1' }] }), /a TCP tunnel has one target/)
})
