import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { spawnAdit, startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService, type LocalService } from '../harness/local-service.js'
import { httpGet } from '../harness/http-client.js'
import { tempDir } from '../harness/temp.js'

/** A local service that echoes WebSocket messages and streams server-sent events. */
async function startWsService(): Promise<{ url: string; server: Server; wss: WebSocketServer; closeCodes: number[]; close(): Promise<void> }> {
  const closeCodes: number[] = []
  const server = createServer((req, res) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write('data: first\n\n')
      // The stream stays open: a buffering proxy would never deliver the event.
      return
    }
    res.end('plain')
  })
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 })
  wss.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString()
      if (text === 'close-from-service') return ws.close(4002, 'service says bye')
      ws.send(data, { binary: isBinary })
    })
    ws.on('close', (code) => closeCodes.push(code))
    ws.send(`hello ${req.url}`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    wss,
    closeCodes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function open(url: string): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 })
    ws.once('message', (data) => resolve({ ws, first: data.toString() }))
    ws.once('error', reject)
  })
}

describe('WebSocket passthrough, streaming responses, host routing, names', () => {
  let wsService: Awaited<ReturnType<typeof startWsService>>
  let service: LocalService
  let server: ServerProcess
  let agent: AgentProcess
  const dir = tempDir()

  before(async () => {
    wsService = await startWsService()
    service = await startLocalService()
    server = await startServerProcess({ args: ['--public-host-suffix', 'tunnel.test'] })
    agent = await startAgentProcess(server.url, wsService.url, { stateFile: dir.file('ws.json') })
  })
  after(async () => {
    await agent?.stop()
    await server?.stop()
    await wsService?.close()
    await service?.close()
    dir.remove()
  })

  it('a WebSocket through the tunnel: 1,000 messages both ways, a 10 MiB binary message, close codes both ways', async () => {
    const wsUrl = `ws://127.0.0.1:${server.port}/pub/${agent.id}/chat?room=1`
    const { ws, first } = await open(wsUrl)
    assert.equal(first, 'hello /chat?room=1', 'the prefix is stripped, the query kept')
    const received: string[] = []
    const all = new Promise<void>((resolve) => {
      ws.on('message', (data, isBinary) => {
        if (!isBinary) received.push(data.toString())
        if (received.length === 1000) resolve()
      })
    })
    for (let i = 0; i < 1000; i++) ws.send(`message ${i}`)
    await all
    assert.deepEqual(
      received,
      Array.from({ length: 1000 }, (_, i) => `message ${i}`),
    )

    const big = Buffer.alloc(10 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i)
    const echoed = new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer)))
    ws.send(big)
    assert.ok((await echoed).equals(big), 'the 10 MiB message came back intact')

    const closedByClient = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.close(4001, 'client says bye')
    assert.equal(await closedByClient, 4001)
    for (let i = 0; i < 100 && !wsService.closeCodes.includes(4001); i++) await new Promise((r) => setTimeout(r, 20))
    assert.ok(wsService.closeCodes.includes(4001), 'the service saw the client close code')

    const second = await open(wsUrl)
    const closedByService = new Promise<number>((resolve) => second.ws.once('close', (code) => resolve(code)))
    second.ws.send('close-from-service')
    assert.equal(await closedByService, 4002, 'the client saw the service close code')
  })

  it('server-sent events stream without buffering', async () => {
    const res = await request(`${server.url}/pub/${agent.id}/events`)
    assert.equal(res.headers['content-type'], 'text/event-stream')
    const reader = res.body[Symbol.asyncIterator]()
    const first = await reader.next()
    assert.equal(Buffer.from(first.value as Buffer).toString(), 'data: first\n\n')
    res.body.destroy()
  })

  it('host-based routing: {id}.suffix reaches the tunnel with no prefix and no rewriting; public_url says so', async () => {
    const reg = await request(`${server.url}/register`, { method: 'POST' })
    const { id, public_url } = (await reg.body.json()) as { id: string; public_url: string }
    assert.equal(public_url, `http://${id}.tunnel.test:${server.port}/`, 'the port the agent registered through is kept')
    // Behind a TLS front (Cloud Run: Host without a port, X-Forwarded-Proto https): https, no port.
    const fronted = await request(`${server.url}/register`, { method: 'POST', headers: { host: 'adit.example.com', 'x-forwarded-proto': 'https' } })
    const viaFront = (await fronted.body.json()) as { id: string; public_url: string }
    assert.equal(viaFront.public_url, `https://${viaFront.id}.tunnel.test/`)
    const onPort = await request(`${server.url}/register`, { method: 'POST', headers: { host: 'adit.example.com:8443', 'x-forwarded-proto': 'https' } })
    const viaPort = (await onPort.body.json()) as { id: string; public_url: string }
    assert.equal(viaPort.public_url, `https://${viaPort.id}.tunnel.test:8443/`)
    const routed = await startAgentProcess(server.url, service.url, { stateFile: dir.file('host.json') })
    const res = await httpGet(`${server.url}/headers`, { host: `${routed.id}.tunnel.test` })
    assert.equal(res.status, 200)
    assert.equal(res.headers.location, '/somewhere?x=1', 'no prefix to put back')
    assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/app; HttpOnly', 'c=3'])
    const echo = JSON.parse((await httpGet(`${server.url}/echo/x?y=1`, { host: `${routed.id}.tunnel.test:8080` })).body) as {
      url: string
      headers: Record<string, string>
    }
    assert.equal(echo.url, '/echo/x?y=1')
    assert.equal(echo.headers['x-forwarded-prefix'], undefined)
    assert.equal(echo.headers['x-forwarded-host'], `${routed.id}.tunnel.test:8080`)
    const unknown = await httpGet(`${server.url}/x`, { host: 'nosuchtunnel.tunnel.test' })
    assert.equal(unknown.status, 404)
    await routed.stop()
  })

  it('--name: the name becomes the id when free; a second tunnel cannot take it; reserved and id-shaped names are refused', async () => {
    const named = await startAgentProcess(server.url, service.url, { stateFile: dir.file('named.json'), args: ['--name', 'myapp'] })
    try {
      assert.equal(named.id, 'myapp')
      assert.equal(named.publicUrl, `http://myapp.tunnel.test:${server.port}/`)
      const res = await httpGet(`${server.url}/echo`, { host: 'myapp.tunnel.test' })
      assert.equal(res.status, 200)
      const rival = spawnAdit(['agent', '--server', server.url, '--local', service.url, '--json', '--state-file', dir.file('rival.json'), '--name', 'myapp'])
      assert.equal(await rival.exited, 2)
      assert.ok(
        rival.lines.some((l) => l.includes('409') && l.includes('ADIT_ERR_REGISTRATION')),
        rival.lines.join('\n'),
      )
      for (const name of ['admin', 'abcdefghijklmnop']) {
        const reg = await request(`${server.url}/register`, { method: 'POST', body: JSON.stringify({ name }) })
        assert.equal(reg.statusCode, 400, name)
        await reg.body.text()
      }
      // The owner restarts with its saved credentials: still myapp.
      await named.stop()
      const again = await startAgentProcess(server.url, service.url, { stateFile: dir.file('named.json'), args: ['--name', 'myapp'] })
      assert.equal(again.id, 'myapp')
      await again.stop()
    } finally {
      await named.stop()
    }
  })
})
