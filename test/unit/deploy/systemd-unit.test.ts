// deploy/adit-agent.service: parsed as INI and checked for the settings that
// make the agent restart for ever, keep its state and run sandboxed; when
// systemd-analyze is on the machine, systemd itself reads the unit too.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lastValue, parseIni, type Ini } from './ini-parser.js'
import { repoPath } from './repo.js'

const unitPath = repoPath('deploy', 'adit-agent.service')

function unit(): Ini {
  return parseIni(readFileSync(unitPath, 'utf8'))
}

test('adit-agent.service: has Unit, Service and Install sections', () => {
  const ini = unit()
  for (const section of ['Unit', 'Service', 'Install']) assert.ok(ini.has(section), `[${section}]`)
  assert.equal(lastValue(ini, 'Install', 'WantedBy'), 'multi-user.target')
  assert.match(lastValue(ini, 'Unit', 'After') ?? '', /network-online\.target/)
})

test('adit-agent.service: restarts for ever, with a pause', () => {
  const ini = unit()
  assert.equal(lastValue(ini, 'Service', 'Restart'), 'always')
  assert.match(lastValue(ini, 'Service', 'RestartSec') ?? '', /^\d+(ms|s)?$/)
  // A start limit would stop the retries after a few failures (server down).
  assert.equal(lastValue(ini, 'Unit', 'StartLimitIntervalSec'), '0')
})

test('adit-agent.service: runs `agent` with its state file in the StateDirectory', () => {
  const ini = unit()
  const exec = lastValue(ini, 'Service', 'ExecStart')
  assert.ok(exec, 'ExecStart')
  const argv = exec.split(/\s+/)
  assert.match(argv[0]!, /^\/.*\/node$/, 'absolute path to node')
  assert.ok(argv.includes('agent'), 'the agent subcommand')
  const stateDir = lastValue(ini, 'Service', 'StateDirectory')
  assert.ok(stateDir, 'StateDirectory')
  const stateFile = argv[argv.indexOf('--state-file') + 1]
  assert.ok(argv.includes('--state-file') && stateFile !== undefined, '--state-file is given (the default is under $HOME)')
  assert.ok(stateFile.startsWith(`/var/lib/${stateDir}/`), `${stateFile} is inside /var/lib/${stateDir}`)
})

test('adit-agent.service: starts the agent without the inspector (nobody browses it; it would hold credentials)', () => {
  const exec = lastValue(unit(), 'Service', 'ExecStart') ?? ''
  const argv = exec.split(/\s+/)
  assert.ok(argv.includes('--no-inspect'), `--no-inspect in ExecStart: ${exec}`)
  assert.ok(!argv.some((a) => a === '--inspect' || a.startsWith('--inspect=')), 'and no --inspect')
})

test('adit-agent.service: settings come from an EnvironmentFile', () => {
  const file = lastValue(unit(), 'Service', 'EnvironmentFile')
  assert.ok(file, 'EnvironmentFile')
  assert.match(file, /^-?\//, 'absolute path')
  // The example documents the three variables the agent reads.
  const example = readFileSync(repoPath('deploy', 'adit-agent.env.example'), 'utf8')
  for (const name of ['ADIT_SERVER', 'ADIT_LOCAL', 'ADIT_API_KEY']) assert.match(example, new RegExp(`^${name}=`, 'm'))
})

test('adit-agent.service: unprivileged and sandboxed', () => {
  const ini = unit()
  const service = (key: string): string | undefined => lastValue(ini, 'Service', key)
  assert.ok(service('DynamicUser') === 'yes' || (service('User') ?? 'root') !== 'root', 'DynamicUser or a dedicated User')
  const required: Record<string, string> = {
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    PrivateDevices: 'yes',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectControlGroups: 'yes',
    RestrictNamespaces: 'yes',
    RestrictSUIDSGID: 'yes',
    LockPersonality: 'yes',
    CapabilityBoundingSet: '',
  }
  for (const [key, value] of Object.entries(required)) assert.equal(service(key), value, key)
  assert.deepEqual((service('RestrictAddressFamilies') ?? '').split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX'])
  // V8's JIT needs writable+executable memory: this setting would kill node.
  assert.notEqual(service('MemoryDenyWriteExecute'), 'yes')
})

function systemdAnalyze(): boolean {
  return spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0
}

test('adit-agent.service: systemd-analyze verify reports nothing', (t) => {
  if (!systemdAnalyze()) {
    t.skip('systemd-analyze is not installed on this machine')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'adit-unit-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  // verify checks that ExecStart's binary exists: point it at this node.
  const text = readFileSync(unitPath, 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`)
  const copy = join(dir, 'adit-agent.service')
  writeFileSync(copy, text)
  const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
  // verify exits 0 even for unknown keys; its complaints name the file.
  const complaints = `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => line.includes(copy))
  assert.deepEqual(complaints, [])
  assert.equal(result.status, 0)
})

test('INI parser: repeated keys, continuations, and broken lines', () => {
  const ini = parseIni('[S]\nA=1\nA=2\nB=x \\\n y\n; comment\n')
  assert.deepEqual(ini.get('S')?.get('A'), ['1', '2'])
  assert.equal(lastValue(ini, 'S', 'B'), 'x  y')
  assert.throws(() => parseIni('A=1'), /outside any section/)
  assert.throws(() => parseIni('[S]\nnot a pair'), /neither/)
})
