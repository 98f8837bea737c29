import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { rawExchange, statusOf } from '../harness/security-helpers.js'

/**
 * The request target by RFC 9112 §3.2 (issue 11, finding 6): one Host only;
 * an absolute-form target wins over Host; a secret in the query is redacted
 * from the log however its key is spelled. Raw bytes on a socket, since
 * clients will not send these shapes.
 */
describe('request target: duplicate Host, absolute-form, encoded secret keys', () => {
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess
  let other: AgentProcess
  const dir = tempDir()

  before(async () => {
    service = await startLocalService()
    server = await startServerProcess({ args: ['--public-host-suffix', 'tunnel.test'] })
    agent = await startAgentProcess(server.url, service.url, { stateFile: dir.file('a.json') })
    other = await startAgentProcess(server.url, service.url, { stateFile: dir.file('b.json') })
  })
  after(async () => {
    await agent?.stop()
    await other?.stop()
    await server?.stop()
    await service?.close()
    dir.remove()
  })

  it('two Host headers: 400, the connection closed, nothing reaches a service', async () => {
    const seen = service.requests.length
    for (const hosts of [
      [`${agent.id}.tunnel.test`, `${other.id}.tunnel.test`],
      [`${agent.id}.tunnel.test`, `${agent.id}.tunnel.test`],
      [`127.0.0.1:${server.port}`, 'evil.example'],
    ]) {
      const path = hosts[0]!.startsWith('127.') ? `/pub/${agent.id}/echo/dup` : '/echo/dup'
      const { text, closed } = await rawExchange(server.port, `GET ${path} HTTP/1.1\r\nHost: ${hosts[0]}\r\nhost: ${hosts[1]}\r\n\r\n`)
      assert.equal(statusOf(text), 400, `two Host headers ${hosts.join(' / ')}: ${text.slice(0, 80)}`)
      assert.ok(closed, 'the server closed the connection')
    }
    assert.equal(service.requests.length, seen, 'no request reached a service')
  })

  it('an absolute-form target wins over Host: routing, X-Forwarded-Host and the service see its authority', async () => {
    const { text } = await rawExchange(
      server.port,
      `GET http://${agent.id}.tunnel.test/echo/abs?x=1 HTTP/1.1\r\nHost: ${other.id}.tunnel.test\r\nConnection: close\r\n\r\n`,
    )
    assert.equal(statusOf(text), 200, text.slice(0, 200))
    const echo = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { url: string; headers: Record<string, string> }
    assert.equal(echo.url, '/echo/abs?x=1')
    assert.equal(echo.headers['x-forwarded-host'], `${agent.id}.tunnel.test`)

    const viaPub = await rawExchange(
      server.port,
      `GET http://127.0.0.1:${server.port}/pub/${agent.id}/echo/p HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    )
    assert.equal(statusOf(viaPub.text), 200, viaPub.text.slice(0, 200))
    const echoed = JSON.parse(viaPub.text.slice(viaPub.text.indexOf('\r\n\r\n') + 4)) as { url: string; headers: Record<string, string> }
    assert.equal(echoed.url, '/echo/p')
    assert.equal(echoed.headers['x-forwarded-host'], `127.0.0.1:${server.port}`)

    // Dot segments are not folded by the absolute form either: the path stays inside tunnel A.
    const dots = await rawExchange(server.port, `GET http://127.0.0.1/pub/${agent.id}/../${other.id}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    assert.equal(statusOf(dots.text), 200)
    assert.equal(service.requests.at(-1)?.url, `/../${other.id}/echo`)

    for (const target of ['ftp://a.example/x', 'http:///x', `http://user@${agent.id}.tunnel.test/`]) {
      const bad = await rawExchange(server.port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
      assert.equal(statusOf(bad.text), 400, target)
    }
  })

  it('?%73ecret= (and other spellings of the secret keys) never reach the log', async () => {
    const marks = ['hunter2-a', 'hunter2-b', 'hunter2-c', 'hunter2-d']
    const query = `?%73ecret=${marks[0]}&To%6Ben=${marks[1]}&API%5Fkey=${marks[2]}&x=1&SECRET=${marks[3]}`
    const { text } = await rawExchange(server.port, `GET /pub/${agent.id}/echo/q${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    assert.equal(statusOf(text), 200)
    const deadline = Date.now() + 5000
    while (!server.lines.some((l) => l.includes('/echo/q')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    const line = server.lines.find((l) => l.includes('/echo/q'))
    assert.ok(line, 'the access line was written')
    for (const mark of marks) assert.ok(!server.lines.some((l) => l.includes(mark)), `${mark} is not in the server's log`)
    assert.match(line, /%73ecret=\[redacted\]/)
    assert.match(line, /x=1/)
  })
})
