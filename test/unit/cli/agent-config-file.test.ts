import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { tunnelPlans } from '../../../src/cli/agent-command.js'
import { loadTunnelsFile, parseConfigText, stateFileFor, tunnelsFromConfig } from '../../../src/cli/agent-config-file.js'
import { inspectAddressFrom } from '../../../src/cli/agent-inspection.js'
import { readConfigFile } from '../../../src/config/config-file.js'
import { resolveSettings } from '../../../src/config/resolve.js'
import { agentSettings } from '../../../src/config/agent-table.js'
import { serverSettings } from '../../../src/config/server-table.js'
import { ErrorCode } from '../../../src/errors.js'
import { tempDir } from '../../harness/temp.js'

const isConfigError = (error: { code?: string }) => error.code === ErrorCode.CONFIG

const multi = `server: https://adit.example.com
api_key: k1
connections: 3
state_dir: /var/lib/adit
tunnels:
  - name: web
    local: http://127.0.0.1:3000
  - local: https://127.0.0.1:8443
    local_insecure: true
    host-header: preserve
    basic_auth: user:secret
    allow_ip: 10.0.0.0/8
  - name: jwt
    local: http://127.0.0.1:5000
    stateFile: none
    require_jwt: { jwks_url: https://id.example/jwks.json, audience: app }
`

test('one file serves both: the settings resolver skips tunnels: and state_dir:, the tunnels reader takes them', (t) => {
  const dir = tempDir()
  t.after(() => dir.remove())
  writeFileSync(dir.file('adit.yaml'), multi)
  const flat = readConfigFile(dir.file('adit.yaml'), 'agent')
  assert.deepEqual(flat, { server: 'https://adit.example.com', apiKey: 'k1', connections: 3 })
  const { values } = resolveSettings(agentSettings, {}, {}, flat)
  assert.equal(values.apiKey, 'k1')
  // The server reading the same file ignores the agent's tunnels too.
  assert.doesNotThrow(() => resolveSettings(serverSettings, {}, {}, readConfigFile(dir.file('adit.yaml'), 'server')))

  const file = tunnelsFromConfig(parseConfigText(multi, 'adit.yaml'), 'adit.yaml')
  assert.equal(file.stateDir, '/var/lib/adit')
  assert.equal(file.tunnels?.length, 3)
  assert.deepEqual(file.tunnels?.[1], {
    local: 'https://127.0.0.1:8443',
    localInsecure: true,
    hostHeader: 'preserve',
    access: { basic_auth: 'user:secret', allow_ips: ['10.0.0.0/8'] },
  })
  assert.deepEqual(file.tunnels?.[2]?.access, { require_jwt: { jwks_url: 'https://id.example/jwks.json', audience: 'app' } })
  const plans = tunnelPlans({ server: 'https://adit.example.com', apiKey: 'k1', connections: 3, hostHeader: 'rewrite', name: 'ignored' }, file)
  assert.deepEqual(
    plans.map((p) => [p.name, p.options.local, p.options.stateFile, p.options.connections, p.options.apiKey, p.options.name, p.options.hostHeader]),
    [
      ['web', 'http://127.0.0.1:3000', '/var/lib/adit/tunnel-web.json', 3, 'k1', 'web', undefined],
      [undefined, 'https://127.0.0.1:8443', '/var/lib/adit/tunnel-127.0.0.1-8443.json', 3, 'k1', undefined, 'preserve'],
      ['jwt', 'http://127.0.0.1:5000', null, 3, 'k1', 'jwt', undefined],
    ],
  )
  assert.equal(plans[1]?.options.localInsecure, true)
})

test('tunnels under an agent: section, and a file without tunnels is one tunnel', () => {
  const nested = tunnelsFromConfig(parseConfigText('agent:\n  state-dir: none\n  tunnels:\n    - local: http://127.0.0.1:1\n', 'n.yaml'), 'n.yaml')
  assert.equal(nested.stateDir, 'none')
  assert.equal(nested.tunnels?.[0]?.local, 'http://127.0.0.1:1')
  const single = tunnelsFromConfig(parseConfigText('local: http://127.0.0.1:3000\n', 's.yaml'), 's.yaml')
  assert.equal(single.tunnels, undefined)
  assert.equal(tunnelPlans({ local: 'http://127.0.0.1:3000' }, single).length, 1)
})

test('bad tunnel lists fail with ADIT_ERR_CONFIG naming the key and the file', () => {
  const cases: Array<[string, RegExp]> = [
    ['server: [', /not valid YAML/],
    ['- a\n- b', /must be a mapping/],
    ['tunnels: []', /tunnels must be a non-empty list/],
    ['tunnels:\n  - name: a', /tunnels\[0\]\.local must be/],
    ['tunnels:\n  - local: http://x:1\n    colour: red', /tunnels\[0\] has an unknown key "colour"/],
    ['tunnels:\n  - local: http://x:1\n    basic_auth: nopassword', /basic_auth must be user:password/],
    ['tunnels:\n  - local: http://x:1\n    allow_ip: [not-an-ip]', /allow_ip must be/],
    ['tunnels:\n  - local: http://x:1\n    require_jwt: { issuer: x }', /require_jwt\.jwks_url must be/],
    ['tunnels:\n  - local: http://x:1\n    basic_auth: a:b\n    require_jwt: { jwks_url: https://j/ }', /choose one/],
    ['tunnels:\n  - local: http://x:1\n    host_header: "a b"', /host_header must be/],
    ['tunnels:\n  - local: http://x:1\n    local_insecure: "yes"', /local_insecure must be true or false/],
    ['tunnels:\n  - name: a\n    local: http://x:1\n  - name: a\n    local: http://x:2', /used twice/],
  ]
  for (const [text, message] of cases) {
    assert.throws(
      () => tunnelsFromConfig(parseConfigText(text, 'bad.yaml'), 'bad.yaml'),
      (error: Error & { code?: string }) => isConfigError(error) && message.test(error.message) && error.message.includes('bad.yaml'),
      text,
    )
  }
  // A per-tunnel setting at the top level of a file with tunnels is a mistake worth naming.
  assert.throws(
    () => tunnelsFromConfig(parseConfigText('local: http://x:1\ntunnels:\n  - local: http://x:2', 'top.yaml'), 'top.yaml', new Set(['local'])),
    (error: Error & { code?: string }) => isConfigError(error) && /local belongs inside each entry/.test(error.message),
  )
  // Two unnamed tunnels to the same target would share a derived state file.
  const twin = tunnelsFromConfig(parseConfigText('state_dir: /s\ntunnels:\n  - local: http://x:1\n  - local: http://x:1', 'twin.yaml'), 'twin.yaml')
  assert.throws(
    () => tunnelPlans({}, twin),
    (error: Error & { code?: string }) => isConfigError(error) && /share the state file/.test(error.message),
  )
})

test('loadTunnelsFile reads a file and names a missing one', async (t) => {
  const dir = tempDir()
  t.after(() => dir.remove())
  writeFileSync(dir.file('a.yaml'), 'tunnels:\n  - local: http://127.0.0.1:9\n')
  assert.equal((await loadTunnelsFile(dir.file('a.yaml'), new Set())).tunnels?.[0]?.local, 'http://127.0.0.1:9')
  await assert.rejects(
    loadTunnelsFile(dir.file('missing.yaml'), new Set()),
    (error: Error & { code?: string }) => isConfigError(error) && /ENOENT/.test(error.message),
  )
})

test('stateFileFor: explicit, none, derived from the name or the target', () => {
  assert.equal(stateFileFor({ local: 'http://x:1', stateFile: '/a.json' }, '/d'), '/a.json')
  assert.equal(stateFileFor({ local: 'http://x:1', stateFile: 'none' }, '/d'), null)
  assert.equal(stateFileFor({ local: 'http://x:1' }, 'none'), null)
  assert.equal(stateFileFor({ local: 'http://x:1', name: 'web' }, '/d'), '/d/tunnel-web.json')
  assert.equal(stateFileFor({ local: 'http://127.0.0.1:3000' }, undefined), join(homedir(), '.config', 'adit', 'tunnel-127.0.0.1-3000.json'))
})

test('inspect: on by default with fallback ports, off with --no-inspect or ADIT_INSPECT=false, an address as given', () => {
  assert.deepEqual(inspectAddressFrom({}), { address: '127.0.0.1:4040', attempts: 10 })
  assert.deepEqual(inspectAddressFrom({ inspect: true }), { address: '127.0.0.1:4040', attempts: 10 })
  assert.equal(inspectAddressFrom({ inspect: false }), null)
  assert.equal(inspectAddressFrom({ inspect: false, inspectAddr: '127.0.0.1:5000' }), null)
  assert.equal(inspectAddressFrom({ inspect: 'off' }), null)
  assert.deepEqual(inspectAddressFrom({ inspect: 'true' }), { address: '127.0.0.1:4040', attempts: 10 })
  assert.deepEqual(inspectAddressFrom({ inspect: '0' }), { address: '0', attempts: 1 })
  assert.deepEqual(inspectAddressFrom({ inspect: '127.0.0.1:0' }), { address: '127.0.0.1:0', attempts: 1 })
  assert.deepEqual(inspectAddressFrom({ inspectAddr: '[::1]:4100' }), { address: '[::1]:4100', attempts: 1 })
})
