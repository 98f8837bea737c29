import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import { cleanupList } from '../harness/cleanup.js'
import { httpGet } from '../harness/http-client.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'

const key = 'login-key-0123456789abcdef'

describe('adit login <server> and adit http <port>: the common case in three words', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('login saves server and key (0600, XDG dir); `adit http <port>` uses them; ADIT_API_KEY still wins', async () => {
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ env: { ADIT_API_KEYS: key } }))
    const home = jobs.add(tempDir())
    const env = { XDG_CONFIG_HOME: home.path }
    const login = jobs.add(spawnAdit(['login', server.url, '--api-key', key], env))
    assert.equal(await login.exited, 0, login.lines.join('\n'))
    const file = `${home.path}/adit/login.json`
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { server: server.url, api_key: key })
    assert.ok(!login.lines.join('\n').includes(key), 'the key is not printed')

    const port = new URL(service.url).port
    const agent = jobs.add(spawnAdit(['http', port, '--json', '--no-inspect'], env))
    const ready = JSON.parse(await agent.waitForLine((l) => l.startsWith('{"event":"ready"'), 20_000)) as { public_url: string }
    assert.ok(ready.public_url.startsWith(server.url), ready.public_url)
    const res = await httpGet(`${ready.public_url}echo`)
    assert.equal(res.status, 200)
    assert.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers.host, `localhost:${port}`, 'a bare port is localhost')
    assert.equal(statSync(`${home.path}/adit/agent-state.json`).mode & 0o777, 0o600, 'the state file lives in the XDG dir too')
    await agent.stop()

    const overridden = jobs.add(spawnAdit(['http', port, '--no-inspect', '--state-file', 'none'], { ...env, ADIT_API_KEY: 'wrong-key-0123456789abcdef' }))
    assert.notEqual(await overridden.exited, 0)
    assert.ok(
      overridden.lines.some((l) => l.includes('401')),
      overridden.lines.join('\n'),
    )
  })
})
