import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { request } from 'undici'
import { cleanupList } from '../harness/cleanup.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startServerProcess } from '../harness/processes.js'

async function doctor(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const run = spawnAdit(['doctor', ...args, '--timeout', '5s'])
  const code = await run.exited
  return { code, lines: run.lines }
}

const step = (lines: string[], mark: string, name: string): string | undefined => lines.find((l) => l.startsWith(`[${mark}`) && l.slice(7).startsWith(name))

const key = 'doctor-key-0123456789abcdef'

describe('adit doctor cleans up, works under host routing, knows adit from another service, prints whole messages', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('deletes its temporary tunnel: runs past the per-key cap; at the cap it names the right fix, whole', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_API_KEYS: key, ADIT_MAX_TUNNELS_PER_KEY: '2' } }))
    for (let i = 0; i < 3; i++) {
      const { code, lines } = await doctor(['--server', server.url, '--local', service.url, '--api-key', key, '--state-file', 'none'])
      assert.equal(code, 0, `run ${i + 1}:\n${lines.join('\n')}`)
      assert.match(step(lines, 'ok', 'round trip') ?? '', /temporary tunnel deleted/)
    }
    // Fill the cap by hand: now the round trip cannot register, and says why.
    for (let i = 0; i < 2; i++) {
      const res = await request(`${server.url}/register`, { method: 'POST', headers: { authorization: `Bearer ${key}` } })
      assert.equal(res.statusCode, 201)
      await res.body.text()
    }
    const { code, lines } = await doctor(['--server', server.url, '--local', service.url, '--api-key', key, '--state-file', 'none'])
    assert.equal(code, 2)
    const failed = step(lines, 'FAIL', 'round trip') ?? ''
    assert.match(
      failed,
      /this key already owns 2 tunnels \(ADIT_MAX_TUNNELS_PER_KEY\); delete one first\) \([\d.]+ ms\)$/,
      `the server's message, whole:\n${lines.join('\n')}`,
    )
    const fix = lines[lines.indexOf(failed) + 1] ?? ''
    assert.match(fix, /fix: .*adit tunnels rm/)
    assert.doesNotMatch(fix, /pass --api-key/)
  })

  it('under host routing the round trip goes to the server address with the Host header (no ENOTFOUND)', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ args: ['--public-host-suffix', 'tunnel.invalid'] }))
    const { code, lines } = await doctor(['--server', server.url, '--local', service.url, '--state-file', 'none'])
    assert.equal(code, 0, lines.join('\n'))
    assert.match(step(lines, 'ok', 'round trip') ?? '', /tunnel\.invalid/)
  })

  it('a service that answers 200 ok on /healthz but is not adit fails the healthz step', async () => {
    const other: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok\n')
    })
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    jobs.add({ close: () => new Promise((r) => other.close(r)) })
    const { code, lines } = await doctor(['--server', `http://127.0.0.1:${(other.address() as AddressInfo).port}`, '--state-file', 'none'])
    assert.equal(code, 2)
    assert.match(step(lines, 'FAIL', 'healthz') ?? '', /not an adit server/, lines.join('\n'))
  })
})
