/**
 * TCP visitors (`adit connect`) of an instance that drains. A TCP connection
 * cannot move to another instance, so it must end — but the way a WebSocket
 * server ends a session when it goes away: the visitor's WebSocket used to
 * run until the drain's end and was then cut (`1006`, no close frame). Now it
 * gets a close frame 1001 (going away) at the same moment a public WebSocket
 * session does (near the end of the drain), and `adit connect --listen` ends
 * the local connection with a message and keeps listening for new ones.
 *
 * Relayed too: a visitor on instance A of a tunnel whose agent is on B gets
 * its 1001 from A when B drains (B's LEAVING relay message), not a cut at
 * B's deadline.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { cleanupList } from '../../harness/cleanup.js'
import { clusterEnv, redisOrSkip, REDIS_URL, runPrefix, startMember } from '../../harness/cluster.js'
import { startServerProcess, type ServerProcess } from '../../harness/processes.js'
import { startConnect, startTcpAgent, startTcpService, tcpClient, type ConnectProcess, type TcpAgentProcess } from '../../harness/tcp.js'
import { tempDir } from '../../harness/temp.js'

describe('TCP visitors of a draining server', { timeout: 60_000 }, () => {
  const cleanup = cleanupList()
  const dir = tempDir()
  let server: ServerProcess
  let agent: TcpAgentProcess
  let connect: ConnectProcess
  before(async () => {
    cleanup.add(dir)
    const service = cleanup.add(
      await startTcpService((socket) => {
        socket.on('data', (c: Buffer) => socket.write(c))
        socket.on('end', () => socket.end())
      }),
    )
    server = cleanup.add(await startServerProcess({ args: ['--drain-timeout', '3s'] }))
    agent = cleanup.add(await startTcpAgent(server.url, String(service.port), dir.file('tcp-state.json')))
    connect = cleanup.add(await startConnect(agent.publicUrl, ['--token', agent.token]))
  })
  after(() => cleanup.run())

  it('get a close frame 1001 before the drain ends; adit connect ends the connection with a message and keeps listening', async (t) => {
    // A raw visitor: its WebSocket's close code is what a demanding client sees.
    const ws = new WebSocket(agent.publicUrl.replace(/^http/, 'ws'), ['adit.tcp.v1'], { headers: { 'adit-visitor-token': agent.token } })
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    )
    ws.on('error', () => {})
    const echoed = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)))
    ws.send(Buffer.from('ping'))
    assert.equal((await echoed).toString(), 'ping')
    // A local connection through adit connect.
    const { socket, received } = await tcpClient(connect.port)
    socket.write('hello')
    while (!socket.bytesRead) await new Promise((r) => setTimeout(r, 20))
    const started = Date.now()
    const exit = server.stop('SIGTERM', 10_000)
    const { code, reason, at } = await closed
    const local = await received
    t.diagnostic(
      `visitor closed ${at - started} ms after SIGTERM: ${code} ${JSON.stringify(reason)}; local connection: ${local.data.length} bytes, ${local.error?.code ?? (local.ended ? 'FIN' : 'closed')}`,
    )
    assert.equal(code, 1001, 'the visitor gets a close frame 1001 (before the fix: 1006, cut at the drain deadline)')
    assert.ok(at - started < 3_000, 'closed before the drain deadline, not cut at it')
    assert.equal(local.data.toString(), 'hello')
    for (let i = 0; i < 40 && !connect.lines.some((l) => /going away/.test(l)); i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(
      connect.lines.some((l) => /going away/.test(l)),
      `adit connect says why the connection ended:\n${connect.lines.join('\n')}`,
    )
    assert.equal(await exit, 0)
    // Still listening: a new local connection is taken (and refused with a message, the server being gone).
    const again = await tcpClient(connect.port)
    await again.received
    for (let i = 0; i < 100 && !connect.lines.some((l) => /cannot reach/.test(l)); i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(
      connect.lines.some((l) => /cannot reach/.test(l)),
      connect.lines.join('\n'),
    )
  })
})

const relayed = await redisOrSkip('relayed TCP visitors of a draining instance')

describe('a relayed TCP visitor when the agent’s instance drains', { skip: !relayed, timeout: 60_000 }, () => {
  const cleanup = cleanupList()
  const dir = tempDir()
  after(() => cleanup.run())

  it('gets its 1001 from the visitor’s instance before the agent’s instance cuts the relay', async (t) => {
    cleanup.add(dir)
    const service = cleanup.add(await startTcpService((socket) => void socket.on('data', (c: Buffer) => socket.write(c))))
    const env = clusterEnv(REDIS_URL, runPrefix('drain-tcp-visitor'), 'drain-tcp-visitor-signing-key-0123456789abcdef', {
      ADIT_ALLOW_OPEN_REGISTRATION: 'true',
      ADIT_DRAIN_TIMEOUT: '3s',
    })
    const a = cleanup.add(await startMember(env))
    const b = cleanup.add(await startMember(env))
    const agent = cleanup.add(await startTcpAgent(b.url, String(service.port), dir.file('tcp-state.json')))
    const url = `${a.url}${new URL(agent.publicUrl).pathname}`.replace(/^http/, 'ws')
    const ws = new WebSocket(url, ['adit.tcp.v1'], { headers: { 'adit-visitor-token': agent.token }, perMessageDeflate: false })
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    ws.on('error', () => {})
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    )
    const echoed = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())))
    ws.send(Buffer.from('ping'))
    assert.equal(await echoed, 'ping', 'the visitor on A reaches the service through the relay')
    const started = Date.now()
    const exit = b.stop('SIGTERM', 10_000)
    const { code, reason, at } = await closed
    t.diagnostic(`visitor on A closed ${at - started} ms after B's SIGTERM: ${code} ${JSON.stringify(reason)}`)
    assert.equal(code, 1001, 'a close frame 1001 (before the fix: a cut at B’s drain deadline)')
    assert.ok(at - started < 3_000, 'before B’s drain deadline')
    assert.equal(await exit, 0)
  })
})
