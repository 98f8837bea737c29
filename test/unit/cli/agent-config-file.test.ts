import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { inspectAddressFrom, tunnelPlans } from '../../../src/cli/agent-command.js'
import { applyConfigFile, loadAgentConfigFile, parseAgentConfigText, stateFileFor } from '../../../src/cli/agent-config-file.js'
import { ErrorCode } from '../../../src/errors.js'
import { tempDir } from '../../harness/temp.js'

const isConfigError = (error: { code?: string }) => error.code === ErrorCode.CONFIG

test('a multi-tunnel file: settings, tunnels, access rules, state files', () => {
  const file = parseAgentConfigText(
    `server: https://adit.example.com
api_key: k1
connections: 3
state_dir: /var/lib/adit
tunnels:
  - name: web
    local: http://127.0.0.1:3000
  - local: https://127.0.0.1:8443
    local_insecure: true
    host_header: preserve
    basic_auth: user:secret
    allow_ip: 10.0.0.0/8
  - name: jwt
    local: http://127.0.0.1:5000
    state_file: none
    require_jwt: { jwks_url: https://id.example/jwks.json, audience: app }
`,
    'adit.yaml',
  )
  assert.deepEqual(file.settings, { server: 'https://adit.example.com', apiKey: 'k1', connections: '3' })
  assert.equal(file.tunnels?.length, 3)
  assert.deepEqual(file.tunnels?.[1], {
    local: 'https://127.0.0.1:8443',
    localInsecure: true,
    hostHeader: 'preserve',
    access: { basic_auth: 'user:secret', allow_ips: ['10.0.0.0/8'] },
  })
  assert.deepEqual(file.tunnels?.[2]?.access, { require_jwt: { jwks_url: 'https://id.example/jwks.json', audience: 'app' } })
  const plans = tunnelPlans({ ...file.settings }, file)
  assert.deepEqual(
    plans.map((p) => [p.name, p.options.local, p.options.stateFile, p.options.connections, p.options.apiKey]),
    [
      ['web', 'http://127.0.0.1:3000', '/var/lib/adit/tunnel-web.json', 3, 'k1'],
      [undefined, 'https://127.0.0.1:8443', '/var/lib/adit/tunnel-127.0.0.1-8443.json', 3, 'k1'],
      ['jwt', 'http://127.0.0.1:5000', null, 3, 'k1'],
    ],
  )
  assert.equal(plans[1]?.options.localInsecure, true)
  assert.equal(plans[1]?.options.hostHeader, 'preserve')
})

test('a single-tunnel file is the flags in snake_case', () => {
  const file = parseAgentConfigText('local: http://127.0.0.1:3000\nname: my-app\ninspect: false\nstate_file: ~/adit.json\nmax_connection_age: 10m\n', 'x.yaml')
  assert.equal(file.tunnels, undefined)
  assert.deepEqual(file.settings, { local: 'http://127.0.0.1:3000', name: 'my-app', inspect: false, stateFile: join(homedir(), 'adit.json'), maxConnectionAge: '10m' })
  assert.equal(tunnelPlans(file.settings, file).length, 1)
})

test('precedence: flag and env beat the file, the file beats defaults', () => {
  const file = parseAgentConfigText('server: http://file:1\nlocal: http://file:2\napi_key: file-key\nconnections: 4\n', 'x.yaml')
  const sources: Record<string, 'cli' | 'env' | 'default'> = { server: 'cli', local: 'default', apiKey: 'env' }
  const merged = applyConfigFile({ server: 'http://flag:1', local: 'http://127.0.0.1:3000', apiKey: 'env-key' }, (flag) => sources[flag], file)
  assert.deepEqual(merged, { server: 'http://flag:1', local: 'http://file:2', apiKey: 'env-key', connections: '4' })
})

test('bad files fail with ADIT_ERR_CONFIG naming the key', () => {
  const cases: Array<[string, RegExp]> = [
    ['server: [', /not valid YAML/],
    ['- a\n- b', /must be a mapping/],
    ['severs: x', /unknown key "severs"/],
    ['tunnels: []', /tunnels must be a non-empty list/],
    ['tunnels:\n  - name: a', /tunnels\[0\]\.local must be/],
    ['tunnels:\n  - local: http://x:1\n    colour: red', /tunnels\[0\] has an unknown key "colour"/],
    ['tunnels:\n  - local: http://x:1\n    basic_auth: nopassword', /basic_auth must be user:password/],
    ['tunnels:\n  - local: http://x:1\n    allow_ip: [not-an-ip]', /allow_ip must be/],
    ['tunnels:\n  - local: http://x:1\n    require_jwt: { issuer: x }', /require_jwt\.jwks_url must be/],
    ['tunnels:\n  - local: http://x:1\n    basic_auth: a:b\n    require_jwt: { jwks_url: https://j/ }', /choose one/],
    ['tunnels:\n  - local: http://x:1\n    host_header: "a b"', /host_header must be/],
    ['local: http://x:1\ntunnels:\n  - local: http://x:2', /local belongs inside each entry/],
    ['tunnels:\n  - name: a\n    local: http://x:1\n  - name: a\n    local: http://x:2', /used twice/],
    ['local_insecure: "yes"', /local_insecure must be true or false/],
  ]
  for (const [text, message] of cases) {
    assert.throws(() => parseAgentConfigText(text, 'bad.yaml'), (error: Error & { code?: string }) => isConfigError(error) && message.test(error.message) && error.message.includes('bad.yaml'), text)
  }
  // Two unnamed tunnels to the same target would share a derived state file.
  const twin = parseAgentConfigText('state_dir: /s\ntunnels:\n  - local: http://x:1\n  - local: http://x:1', 'twin.yaml')
  assert.throws(() => tunnelPlans({}, twin), (error: Error & { code?: string }) => isConfigError(error) && /share the state file/.test(error.message))
})

test('loadAgentConfigFile reads a file and names a missing one', async (t) => {
  const dir = tempDir()
  t.after(() => dir.remove())
  writeFileSync(dir.file('a.yaml'), 'server: http://127.0.0.1:9\n')
  assert.equal((await loadAgentConfigFile(dir.file('a.yaml'))).settings.server, 'http://127.0.0.1:9')
  await assert.rejects(loadAgentConfigFile(dir.file('missing.yaml')), (error: Error & { code?: string }) => isConfigError(error) && /ENOENT/.test(error.message))
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
