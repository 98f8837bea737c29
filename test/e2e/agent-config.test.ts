/**
 * `adit agent --config` with a `tunnels:` list, as a user runs it: real
 * server and agent processes on loopback, stdout piped (so the status is one
 * line per change), one shared inspector, replays that go through the
 * agent's forwarder and show up once.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { request } from 'undici'
import { startAgentInspector } from '../../src/inspector/agent-inspector.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'

function forwarding(line: string): RegExpExecArray | null {
  return /^adit: forwarding (\S+) → (\S+) \((\S+)\)$/.exec(line)
}

test('two tunnels from one config file: piped status lines, one inspector, observed replays, a state file each', async (t) => {
  const dir = tempDir()
  t.after(() => dir.remove())
  const web = await startLocalService()
  t.after(() => web.close())
  const api = await startLocalService()
  t.after(() => api.close())
  const server = await startServerProcess()
  t.after(() => server.stop())
  // The file names a dead server: the --server flag must win over it.
  writeFileSync(
    dir.file('adit.yaml'),
    `server: http://127.0.0.1:1
state_dir: ${dir.file('state')}
tunnels:
  - name: web
    local: ${web.url}
  - name: billing
    local: ${api.url}
    host_header: rewrite
`,
  )
  const agent = spawnAdit(['agent', '--config', dir.file('adit.yaml'), '--server', server.url, '--inspect', '127.0.0.1:0'])
  t.after(() => agent.stop())
  const inspectorLine = await agent.waitForLine((l) => l.startsWith('adit: inspector on '))
  // The printed URL carries this run's token (?token=…); the API takes it as a header.
  const printed = new URL(inspectorLine.slice('adit: inspector on '.length))
  const inspectorUrl = `${printed.origin}/`
  const inspectorAuth = { 'x-adit-inspector-token': printed.searchParams.get('token') ?? '' }
  const webLine = forwarding(await agent.waitForLine((l) => forwarding(l)?.[3] === 'web'))!
  const apiLine = forwarding(await agent.waitForLine((l) => forwarding(l)?.[3] === 'billing'))!
  assert.equal(webLine[2], web.url)
  assert.equal(apiLine[2], api.url)
  assert.notEqual(webLine[1], apiLine[1], 'each tunnel has its own public URL')

  const a = await request(`${webLine[1]}echo/web`)
  assert.equal(a.statusCode, 200)
  await a.body.dump()
  const b = await request(`${apiLine[1]}status/418`)
  assert.equal(b.statusCode, 418)
  await b.body.dump()
  await agent.waitForLine((l) => l.startsWith('[web] GET /echo/web → 200'))
  await agent.waitForLine((l) => l.startsWith('[billing] GET /status/418 → 418'))

  // One inspector lists both tunnels' requests.
  const list = (await (await request(`${inspectorUrl}api/requests`, { headers: inspectorAuth })).body.json()) as {
    requests: Array<{ id: string; path: string }>
  }
  assert.deepEqual(list.requests.map((r) => r.path).sort(), ['/echo/web', '/status/418'])

  // Replay the api request: it goes through the api tunnel's forwarder, is
  // observed like any request (a piped line), and is one new row, not two.
  const original = list.requests.find((r) => r.path === '/status/418')!
  const replay = await request(`${inspectorUrl}api/requests/${original.id}/replay`, { method: 'POST', headers: inspectorAuth })
  assert.equal(replay.statusCode, 201)
  const replayed = (await replay.body.json()) as { id: string; status: number; replayOf: string; exchangeId: string }
  assert.equal(replayed.status, 418)
  assert.equal(replayed.replayOf, original.id)
  assert.match(replayed.exchangeId, /^2:replay-\d+$/, 'the forwarder of the second tunnel recorded it')
  await agent.waitForLine(
    (l) => l.startsWith('[billing] GET /status/418 → 418') && agent.lines.filter((x) => x.startsWith('[billing] GET /status/418')).length === 2,
  )
  assert.equal(api.requests.filter((r) => r.url === '/status/418').length, 2, 'the api service saw the original and the replay')
  assert.equal(web.requests.filter((r) => r.url === '/status/418').length, 0, 'and the web service saw neither')
  const after = (await (await request(`${inspectorUrl}api/requests`, { headers: inspectorAuth })).body.json()) as { total: number }
  assert.equal(after.total, 3)

  // Each tunnel keeps its own state file, so a restart keeps both URLs.
  const webState = JSON.parse(readFileSync(dir.file('state/tunnel-web.json'), 'utf8')) as { public_url: string }
  const apiState = JSON.parse(readFileSync(dir.file('state/tunnel-billing.json'), 'utf8')) as { public_url: string }
  assert.equal(webState.public_url, webLine[1])
  assert.equal(apiState.public_url, apiLine[1])
  assert.equal(await agent.stop(), 0)
})

test('a tunnel that cannot register shows as an error while the others run', async (t) => {
  const dir = tempDir()
  t.after(() => dir.remove())
  const web = await startLocalService()
  t.after(() => web.close())
  const server = await startServerProcess()
  t.after(() => server.stop())
  writeFileSync(
    dir.file('adit.yaml'),
    `server: ${server.url}
state_dir: none
inspect: false
tunnels:
  - name: good
    local: ${web.url}
  - name: Bad_Name
    local: ${web.url}
`,
  )
  const agent = spawnAdit(['agent', '--config', dir.file('adit.yaml')])
  t.after(() => agent.stop())
  await agent.waitForLine((l) => /^adit: error \(Bad_Name\): .*name/.test(l))
  const good = forwarding(await agent.waitForLine((l) => forwarding(l)?.[3] === 'good'))!
  const res = await request(`${good[1]}ok`)
  assert.equal(res.statusCode, 200)
  await res.body.dump()
  assert.equal(
    agent.lines.some((l) => l.startsWith('adit: inspector on')),
    false,
    'inspect: false in the file turns it off',
  )
  assert.equal(await agent.stop(), 0)
})

test('the inspector moves to the next port when its port is taken, and the agent runs without it when none is free', async (t) => {
  // Hold a port, then ask for it: the inspector takes one of the next ones.
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  const taken = (holder.address() as AddressInfo).port
  if (taken < 65530) {
    const moved = await startAgentInspector({ address: `127.0.0.1:${taken}`, local: 'http://127.0.0.1:9', portAttempts: 5 })
    t.after(() => moved.close())
    const port = Number(new URL(moved.url).port)
    assert.ok(port > taken && port <= taken + 4, `took ${port} after ${taken}`)
  }
  await assert.rejects(
    startAgentInspector({ address: `127.0.0.1:${taken}`, local: 'http://127.0.0.1:9' }),
    (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE',
  )

  // The CLI with that taken address: a warning on stderr, and the tunnel still serves.
  const web = await startLocalService()
  t.after(() => web.close())
  const server = await startServerProcess()
  t.after(() => server.stop())
  const agent = spawnAdit(['agent', '--server', server.url, '--local', web.url, '--state-file', 'none', '--inspect-addr', `127.0.0.1:${taken}`])
  t.after(() => agent.stop())
  const warning = await agent.waitForLine((l) => l.includes('inspector not started'))
  assert.match(warning, /address in use/)
  const line = await agent.waitForLine((l) => l.startsWith('adit: forwarding '))
  const url = /^adit: forwarding (\S+) →/.exec(line)![1]!
  const res = await request(`${url}ok`)
  assert.equal(res.statusCode, 200)
  await res.body.dump()
  assert.equal(await agent.stop(), 0)
})
