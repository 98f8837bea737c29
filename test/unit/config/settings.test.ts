import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { ErrorCode } from '../../../src/errors.js'
import { loadSettings, readConfigFile } from '../../../src/config/config-file.js'
import { resolveSettings } from '../../../src/config/resolve.js'
import { agentConfig, agentSettings, printableAgentConfig } from '../../../src/config/agent-settings.js'
import { printableServerConfig, serverConfig, serverSettings } from '../../../src/config/server-settings.js'
import { tempDir } from '../../harness/temp.js'

test('precedence: flag > env > file > default, per setting', () => {
  const file = { port: 1111, host: '10.0.0.1', responseTimeout: '5s', drainTimeout: '3s' }
  const env = { PORT: '2222', HOST: '10.0.0.2', ADIT_RESPONSE_TIMEOUT: '6s' }
  const flags = { port: '3333' }
  const { values, sources } = resolveSettings(serverSettings, flags, env, file)
  assert.equal(values.port, 3333)
  assert.equal(sources.port, 'flag')
  assert.equal(values.host, '10.0.0.2')
  assert.equal(sources.host, 'env')
  assert.equal(values.responseTimeout, 6000)
  assert.equal(values.drainTimeout, 3000)
  assert.equal(sources.drainTimeout, 'file')
  assert.equal(values.maxHeaderBytes, undefined)
  assert.equal(sources.maxHeaderBytes, 'default')
})

test('an empty environment variable does not override the file', () => {
  const { values, sources } = resolveSettings(serverSettings, {}, { HOST: '' }, { host: '10.0.0.1' })
  assert.equal(values.host, '10.0.0.1')
  assert.equal(sources.host, 'file')
})

test('switches read true/false from every source', () => {
  assert.equal(resolveSettings(serverSettings, { h2c: true }, {}, {}).values.h2c, true)
  assert.equal(resolveSettings(serverSettings, {}, { ADIT_H2C: 'false' }, { h2c: true }).values.h2c, false)
  assert.equal(resolveSettings(serverSettings, {}, {}, { h2c: 'yes' }).values.h2c, true)
  assert.throws(() => resolveSettings(serverSettings, {}, { ADIT_H2C: 'maybe' }, {}), { code: ErrorCode.CONFIG })
  assert.throws(() => resolveSettings(serverSettings, {}, {}, { h2c: 3 }), { code: ErrorCode.CONFIG })
})

test('unknown or ill-typed config-file keys are refused, naming the key', () => {
  assert.throws(
    () => resolveSettings(serverSettings, {}, {}, { prot: 80 }),
    (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('"prot"'),
  )
  assert.throws(
    () => resolveSettings(serverSettings, {}, {}, { port: { nested: 1 } }),
    (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('port'),
  )
})

test('reads JSON and YAML files, kebab-case keys and per-command sections', () => {
  const dir = tempDir()
  try {
    writeFileSync(dir.file('adit.yaml'), 'port: 9000\nlog-level: debug\nserver:\n  host: 127.0.0.9\nagent:\n  local: http://127.0.0.1:5000\n')
    assert.deepEqual(readConfigFile(dir.file('adit.yaml'), 'server'), { port: 9000, logLevel: 'debug', host: '127.0.0.9' })
    // port is a server setting: the agent skips it at the top level.
    assert.deepEqual(readConfigFile(dir.file('adit.yaml'), 'agent'), { logLevel: 'debug', local: 'http://127.0.0.1:5000' })
    writeFileSync(dir.file('adit.json'), JSON.stringify({ signingKey: ['k'.repeat(32), 'j'.repeat(32)] }))
    const resolved = loadSettings(serverSettings, 'server', { config: dir.file('adit.json') }, {})
    assert.deepEqual(resolved.values.signingKey, ['k'.repeat(32), 'j'.repeat(32)])
    assert.equal(resolved.file, dir.file('adit.json'))
    writeFileSync(dir.file('bad.json'), '{ "port": ')
    assert.throws(() => readConfigFile(dir.file('bad.json'), 'server'), { code: ErrorCode.CONFIG })
    writeFileSync(dir.file('list.yaml'), '- 1\n- 2\n')
    assert.throws(() => readConfigFile(dir.file('list.yaml'), 'server'), { code: ErrorCode.CONFIG })
    assert.throws(() => readConfigFile(dir.file('missing.yaml'), 'server'), { code: ErrorCode.CONFIG })
    // ADIT_CONFIG names the file when --config is absent.
    assert.equal(loadSettings(serverSettings, 'server', {}, { ADIT_CONFIG: dir.file('adit.yaml') }).values.port, 9000)
  } finally {
    dir.remove()
  }
})

test('server start-up validation names the bad setting, whichever source it came from', () => {
  const dir = tempDir()
  try {
    writeFileSync(dir.file('adit.yaml'), 'responseTimeout: soon\n')
    assert.throws(
      () => serverConfig({ config: dir.file('adit.yaml') }, {}),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('--response-timeout'),
    )
    assert.throws(
      () => serverConfig({}, { PORT: '99999' }),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('port'),
    )
    assert.throws(
      () => serverConfig({}, { ADIT_METRICS_TOKEN: 'short' }),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('ADIT_METRICS_TOKEN'),
    )
    assert.throws(
      () => serverConfig({}, { LOG_LEVEL: 'loud' }),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('LOG_LEVEL'),
    )
    assert.throws(
      () => serverConfig({}, { ADIT_LOG_FORMAT: 'xml' }),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('ADIT_LOG_FORMAT'),
    )
    assert.throws(
      () => agentConfig({}, { ADIT_METRICS_ADDR: 'nine' }),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('--metrics-addr'),
    )
    assert.throws(() => agentConfig({}, { ADIT_SERVER: 'ftp://x' }), { code: ErrorCode.CONFIG })
  } finally {
    dir.remove()
  }
})

test('the effective options follow the rule end to end', () => {
  const dir = tempDir()
  try {
    writeFileSync(dir.file('adit.json'), JSON.stringify({ port: 7000, maxHeaderBytes: '32k', h2c: true, server: { drainTimeout: '2s' } }))
    const { options } = serverConfig({ config: dir.file('adit.json'), port: '7001' }, { ADIT_MAX_HEADER_BYTES: '8k' })
    assert.equal(options.port, 7001)
    assert.equal(options.maxHeaderBytes, 8 * 1024)
    assert.equal(options.h2c, true)
    assert.equal(options.drainTimeoutMs, 2000)
    assert.equal(options.responseTimeoutMs, 30_000)
    const agent = agentConfig({ config: dir.file('adit.json') }, { ADIT_CONNECTIONS: '3' })
    assert.equal(agent.options.connections, 3)
  } finally {
    dir.remove()
  }
})

test('--print-config shows values and sources, never secrets', () => {
  const key = 's'.repeat(40)
  const token = 't'.repeat(20)
  const config = serverConfig({ signingKey: key }, { ADIT_METRICS_TOKEN: token, PORT: '8181' })
  const text = printableServerConfig(config)
  assert.ok(!text.includes(key), 'signing key redacted')
  assert.ok(!text.includes(token), 'metrics token redacted')
  const printed = JSON.parse(text) as { settings: Record<string, { value: unknown; source: string }> }
  assert.deepEqual(printed.settings.signingKey, { value: '[redacted]', source: 'flag' })
  assert.deepEqual(printed.settings.metricsToken, { value: '[redacted]', source: 'env' })
  assert.deepEqual(printed.settings.port, { value: 8181, source: 'env' })
  assert.deepEqual(printed.settings.host, { value: '0.0.0.0', source: 'default' })
  assert.equal(Object.keys(printed.settings).length, serverSettings.length)
})

test('every setting has a flag, an env var and a key, none used twice within a command', () => {
  for (const settings of [serverSettings, agentSettings]) {
    const keys = new Set(settings.map((s) => s.key))
    const envs = new Set(settings.map((s) => s.env[0]))
    const flags = new Set(settings.map((s) => s.flag))
    assert.equal(keys.size, settings.length)
    assert.equal(envs.size, settings.length)
    assert.equal(flags.size, settings.length)
    for (const s of settings) assert.equal(s.flag, `--${s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, s.key)
  }
})

test('--print-config shows every default in the units its flag takes, never null where a default exists', () => {
  const printed = JSON.parse(printableServerConfig(serverConfig({}, {}))) as { settings: Record<string, { value: unknown; source: string }> }
  const value = (key: string) => printed.settings[key]!.value
  assert.equal(value('registerRate'), '30/m')
  assert.equal(value('maxTunnelsPerKey'), 100)
  assert.equal(value('maxStreamsPerTunnel'), 1000)
  assert.equal(value('idleTtl'), '168h')
  assert.equal(value('rotationGrace'), '5m')
  assert.equal(value('responseTimeout'), '30s')
  assert.equal(value('maxHeaderBytes'), '16k')
  assert.equal(value('trustProxy'), false)
  assert.equal(value('redisPrefix'), 'adit:')
  for (const row of serverSettings) {
    if (row.default !== undefined) assert.notEqual(value(row.key), null, row.key)
  }
  const agent = JSON.parse(printableAgentConfig(agentConfig({}, {}))) as { settings: Record<string, { value: unknown }> }
  assert.equal(agent.settings.maxConnectionAge!.value, '50m')
  assert.equal(agent.settings.reconnectMax!.value, '30s')
  assert.equal(agent.settings.maxFrameBytes!.value, '1m')
  for (const row of agentSettings) {
    if (row.default !== undefined) assert.notEqual(agent.settings[row.key]!.value, null, row.key)
  }
})

test('a duration without a unit is refused from every source, naming the setting and the fix', () => {
  for (const [flags, env] of [
    [{ responseTimeout: '60' }, {}],
    [{}, { ADIT_RESPONSE_TIMEOUT: '60' }],
  ] as const) {
    assert.throws(
      () => serverConfig(flags, env),
      (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG && error.message.includes('--response-timeout') && error.message.includes('60s'),
    )
  }
  assert.throws(() => agentConfig({ maxConnectionAge: '3000' }, {}), { code: ErrorCode.CONFIG })
  assert.equal(serverConfig({ responseTimeout: '60s' }, {}).options.responseTimeoutMs, 60_000)
})

test('--local takes a port, :port, host:port or a URL', () => {
  assert.equal(agentConfig({ local: '3000' }, {}).options.local, 'http://localhost:3000')
  assert.equal(agentConfig({}, { ADIT_LOCAL: ':8081' }).options.local, 'http://localhost:8081')
  assert.equal(agentConfig({ local: 'localhost:3000' }, {}).options.local, 'http://localhost:3000')
  assert.equal(agentConfig({ local: 'https://127.0.0.1:8443' }, {}).options.local, 'https://127.0.0.1:8443')
})

test('server options come from the table: each row with an option lands there, defaults included', () => {
  const { options } = serverConfig({ apiKeys: 'a-key-0123456789', adminToken: 'x'.repeat(20), idleTtl: '2h' }, {})
  assert.deepEqual(options.security?.apiKeys, ['a-key-0123456789'])
  assert.equal(options.adminToken, 'x'.repeat(20))
  assert.equal(options.security?.adminToken, 'x'.repeat(20))
  assert.equal(options.security?.idleTtlMs, 7_200_000)
  assert.equal(options.security?.rotationGraceMs, 5 * 60_000)
  assert.equal(serverConfig({}, { K_SERVICE: 'svc' }).options.trustProxy, true)
})

test('a value that means nothing (--state-file none) is kept, not replaced by the default', () => {
  assert.equal(agentConfig({ stateFile: 'none' }, {}).options.stateFile, null)
  assert.equal(agentConfig({}, { ADIT_STATE_FILE: 'none' }).options.stateFile, null)
  assert.match(String(agentConfig({}, {}).options.stateFile), /agent-state\.json$/)
})
