import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import WebSocket from 'ws'
import { cleanupList } from '../harness/cleanup.js'
import { BIN, startServerProcess, type ServerProcess } from '../harness/processes.js'
import { startConnect, startTcpAgent, startTcpService, tcpClient, type TcpAgentProcess } from '../harness/tcp.js'
import { tempDir } from '../harness/temp.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/**
 * Echo with backpressure; on the client's FIN, everything echoed, then FIN (an SSH-like session's
 * shape). `RESET-ME` is answered with a TCP reset and nothing else: Node turns a resetAndDestroy()
 * behind a write still queued into a FIN (checked on plain sockets, without adit: 30 of 30).
 */
function echo(socket: Socket): void {
  socket.on('data', (chunk: Buffer) => {
    if (chunk.includes('RESET-ME')) return void socket.resetAndDestroy()
    if (!socket.write(chunk)) {
      socket.pause()
      socket.once('drain', () => socket.resume())
    }
  })
  socket.on('end', () => socket.end())
}

/** Reads exactly n bytes from a socket (interactive rounds). */
function readExactly(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let got = 0
    const onData = (c: Buffer): void => {
      chunks.push(c)
      got += c.length
      if (got >= n) {
        socket.off('data', onData)
        resolve(Buffer.concat(chunks))
      }
    }
    socket.on('data', onData)
  })
}

/** A WebSocket to a TCP tunnel's URL, raw: the status and X-Adit-Error of a refusal, or 101. */
function rawDial(
  url: string,
  headers: Record<string, string>,
  protocols = ['adit.tcp.v1'],
): Promise<{ status: number; error: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, { headers })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => {
        ws.terminate()
        resolve({ status: res.statusCode ?? 0, error: res.headers['x-adit-error'] as string | undefined, body })
      })
    })
    ws.once('open', () => {
      ws.terminate()
      resolve({ status: 101, error: undefined, body: '' })
    })
    ws.once('error', reject)
  })
}

// Bounded: a hang fails the suite instead of holding the run.
describe('TCP tunnels: adit tcp + adit connect (real server, agent and connect processes)', { timeout: 180_000 }, () => {
  const cleanup = cleanupList()
  const dir = tempDir()
  let server: ServerProcess
  let agent: TcpAgentProcess
  let service: Awaited<ReturnType<typeof startTcpService>>
  let port: number
  /** What the service's sockets saw, per connection, once closed. */
  const serviceSide: Array<Promise<{ data: Buffer; error: string | undefined }>> = []

  before(async () => {
    cleanup.add(dir)
    service = cleanup.add(
      await startTcpService((socket) => {
        const chunks: Buffer[] = []
        let error: string | undefined
        socket.on('data', (c: Buffer) => chunks.push(c))
        socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code))
        serviceSide.push(new Promise((resolve) => socket.on('close', () => resolve({ data: Buffer.concat(chunks), error }))))
        socket.once('data', (first: Buffer) => {
          // "FIN-FIRST": the service says goodbye and half-closes at once, but keeps reading.
          if (first.toString().startsWith('FIN-FIRST')) {
            socket.end('bye\n')
            socket.on('end', () => socket.destroy())
            return
          }
          echo(socket)
          socket.emit('data', first)
        })
      }),
    )
    server = cleanup.add(await startServerProcess())
    agent = cleanup.add(await startTcpAgent(server.url, String(service.port), dir.file('tcp-state.json')))
    port = cleanup.add(await startConnect(agent.publicUrl, ['--token', agent.token])).port
  })
  after(() => cleanup.run())

  it('prints a visitor token with its public URL', () => {
    assert.match(agent.publicUrl, new RegExp(`^${server.url}/pub/[a-z2-7]{16}/$`))
    assert.match(agent.token, /^[A-Za-z0-9_-]{43}$/)
  })

  it('carries an interactive session both ways, then half-close: the client shuts its write side and still receives everything', async () => {
    const { socket, received } = await tcpClient(port)
    const sent: Buffer[] = []
    for (let round = 0; round < 20; round++) {
      const line = Buffer.from(`keystroke ${round} ${randomBytes(8).toString('hex')}\n`)
      sent.push(line)
      socket.write(line)
      assert.deepEqual(await readExactly(socket, line.length), line, `round ${round} echoed before the next`)
    }
    const bulk = randomBytes(4 * 1024 * 1024)
    sent.push(bulk)
    socket.end(bulk)
    const result = await received
    assert.equal(result.error, undefined)
    assert.equal(result.ended, true, 'the service closed its side after the client FIN, and that FIN came through')
    assert.equal(sha(result.data), sha(Buffer.concat(sent)))
  })

  it('passes a FIN from the service while the client keeps sending', async () => {
    // Counted before connecting: on a loaded machine the service may accept before 'connect' is seen here.
    const seen = serviceSide.length
    const { socket, received } = await tcpClient(port)
    socket.write('FIN-FIRST\n')
    await once(socket, 'end')
    const late = randomBytes(512 * 1024)
    socket.end(late)
    const result = await received
    assert.equal(result.data.toString(), 'bye\n')
    assert.equal(result.error, undefined)
    const atService = await serviceSide[seen]!
    assert.equal(sha(atService.data), sha(Buffer.concat([Buffer.from('FIN-FIRST\n'), late])), 'bytes sent after the service FIN arrived')
  })

  it('passes a reset from the service to the client', async () => {
    const { socket, received } = await tcpClient(port)
    socket.write('hello\n')
    await readExactly(socket, 6)
    socket.write('RESET-ME\n')
    const result = await received
    assert.equal(result.ended, false, 'a reset, not a FIN')
    assert.equal(result.error?.code, 'ECONNRESET')
  })

  it('passes a reset from the client to the service', async () => {
    const seen = serviceSide.length
    const { socket } = await tcpClient(port)
    socket.write('hello\n')
    await readExactly(socket, 6)
    socket.resetAndDestroy()
    const atService = await serviceSide[seen]!
    assert.equal(atService.error, 'ECONNRESET')
  })

  it('carries stdin/stdout with --stdio (ssh ProxyCommand), FIN included', async () => {
    const child = spawn(process.execPath, [BIN, 'connect', agent.publicUrl, '--stdio', '--token', agent.token], { stdio: ['pipe', 'pipe', 'pipe'] })
    cleanup.add({ close: async () => void child.kill('SIGKILL') })
    const out: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    const input = randomBytes(1024 * 1024)
    child.stdin.end(input)
    const [code] = (await once(child, 'exit')) as [number]
    assert.equal(code, 0)
    assert.equal(sha(Buffer.concat(out)), sha(input))
  })

  it('refuses a visitor without a token, or with a wrong one, before anything reaches the agent', async () => {
    const before = service.accepted()
    const none = await rawDial(agent.publicUrl, {})
    assert.equal(none.status, 401)
    assert.equal(none.error, 'ADIT_ERR_VISITOR_CREDENTIAL')
    const wrong = await rawDial(agent.publicUrl, { 'adit-visitor-token': agent.token.slice(0, -2) + (agent.token.endsWith('AA') ? 'BB' : 'AA') })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.error, 'ADIT_ERR_VISITOR_CREDENTIAL')
    assert.match(wrong.body, /wrong visitor token/)
    // The tunnel's secret is not its visitor token (a visitor never learns the secret, nor passes with it).
    const { secret } = JSON.parse(readFileSync(dir.file('tcp-state.json'), 'utf8')) as { secret: string }
    assert.equal((await rawDial(agent.publicUrl, { 'adit-visitor-token': secret })).status, 401)
    const right = await rawDial(agent.publicUrl, { 'adit-visitor-token': agent.token })
    assert.equal(right.status, 101)
    // Through `adit connect`: the local connection is reset and the reason is on its stderr.
    const noToken = cleanup.add(await startConnect(agent.publicUrl, []))
    const { received } = await tcpClient(noToken.port)
    const result = await received
    assert.equal(result.data.length, 0)
    await noToken.waitForLine((l) => l.includes('ADIT_ERR_VISITOR_CREDENTIAL'))
    assert.equal(service.accepted(), before + 1, 'only the one right dial reached the service')
  })

  it('answers plain HTTP, and a WebSocket that is not adit.tcp.v1, with 404 from the agent (no HTTP service behind it)', async () => {
    const before = service.accepted()
    const res = await request(agent.publicUrl)
    assert.equal(res.statusCode, 404)
    assert.match(await res.body.text(), /this is a TCP tunnel/)
    const ws = await rawDial(agent.publicUrl, {}, ['chat'])
    assert.equal(ws.status, 404)
    assert.equal(service.accepted(), before)
  })

  it('says 502 when the local TCP service is down', async () => {
    const down = await startTcpService(() => {})
    const downPort = down.port
    await down.close()
    const other = cleanup.add(await startTcpAgent(server.url, String(downPort), dir.file('down-state.json')))
    const dial = await rawDial(other.publicUrl, { 'adit-visitor-token': other.token })
    assert.equal(dial.status, 502)
    assert.equal(dial.error, 'ADIT_ERR_LOCAL_UNREACHABLE')
    assert.match(dial.body, /ECONNREFUSED/)
  })

  it("takes the tunnel's basic-auth rule as the visitor credential instead of a token", async () => {
    const guarded = cleanup.add(await startTcpAgent(server.url, String(service.port), dir.file('basic-state.json'), ['--basic-auth', 'ann:s3cret']))
    const basic = (p: string): string => `Basic ${Buffer.from(`ann:${p}`).toString('base64')}`
    assert.equal((await rawDial(guarded.publicUrl, { authorization: basic('s3cret') })).status, 101)
    const wrong = await rawDial(guarded.publicUrl, { authorization: basic('nope') })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.error, 'ADIT_ERR_AUTH_REQUIRED')
    // A token does not bypass the rule the owner set.
    assert.equal((await rawDial(guarded.publicUrl, { 'adit-visitor-token': guarded.token })).status, 401)
  })
})

describe('an HTTP tunnel meets a TCP visitor', { timeout: 60_000 }, () => {
  const cleanup = cleanupList()
  after(() => cleanup.run())

  it('answers 404 from the agent: nothing is forwarded to the HTTP service', async () => {
    const dir = cleanup.add(tempDir())
    const { startLocalService } = await import('../harness/local-service.js')
    const { startAgentProcess } = await import('../harness/processes.js')
    const service = cleanup.add(await startLocalService())
    const server = cleanup.add(await startServerProcess())
    const agent = cleanup.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('s.json'), args: ['--basic-auth', 'ann:s3cret'] }))
    const dial = await rawDial(agent.publicUrl, { authorization: `Basic ${Buffer.from('ann:s3cret').toString('base64')}` })
    assert.equal(dial.status, 404)
    assert.match(dial.body, /HTTP tunnel/)
    assert.equal(service.requests.length, 0)
  })
})
