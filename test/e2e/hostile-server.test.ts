import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeFrame, decodeHead, encodeOpen, FrameType } from '../../src/protocol/index.js'
import { startAgentProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'

/**
 * A hostile "server": answers /register and speaks adit.v2 on /ws, then
 * sends OPEN frames whose paths name other hosts. The real agent must still
 * send every request to its own --local service only.
 */
async function startHostileServer(): Promise<{ url: string; server: Server; agent: Promise<WebSocket>; close(): Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: () => 'adit.v2' })
  let onAgent: (ws: WebSocket) => void = () => {}
  const agent = new Promise<WebSocket>((resolve) => (onAgent = resolve))
  const server = createServer((req, res) => {
    req.resume()
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    res
      .writeHead(201, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id: 'hostiletunnel0001', secret: 's'.repeat(43), public_url: `${base}/pub/hostiletunnel0001/` }))
  })
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => onAgent(ws)))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    agent,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

describe('a hostile server cannot point the agent anywhere but its --local service (no SSRF)', () => {
  const jobs = cleanup()
  after(() => jobs.run())

  it('absolute-form, scheme-relative and authority-like paths in OPEN all go to --local, never to another host', async () => {
    const local = jobs.add(await startLocalService())
    const decoy = jobs.add(await startLocalService())
    const hostile = jobs.add(await startHostileServer())
    const dir = jobs.add(tempDir())
    jobs.add(await startAgentProcess(hostile.url, local.url, { stateFile: dir.file('s.json') }))
    const ws = await hostile.agent
    const decoyHost = `127.0.0.1:${decoy.port}`
    // Paths that start with "/" but look like another authority: forwarded, to --local only.
    const relative = [`//${decoyHost}/steal`, `/..//${decoyHost}/steal`, `//user@${decoyHost}/steal`]
    const heads = new Map<number, number>()
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
    const answered = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const frame = decodeFrame(data)
        if (frame.type === FrameType.HEAD) heads.set(frame.streamId, decodeHead(frame.payload).status)
        if (heads.size === relative.length) resolve()
      })
    })
    relative.forEach((path, i) => ws.send(encodeOpen(2 * i + 1, { method: 'GET', path, headers: [['host', decoyHost]], bodyless: true })))
    await answered
    assert.deepEqual([...heads.values()], [200, 200, 200])
    assert.deepEqual(
      local.requests.map((r) => r.url),
      relative,
      'each went to the local service, as a path',
    )
    // An absolute URL is not a path at all: a protocol error that closes the connection.
    ws.send(encodeOpen(7, { method: 'GET', path: `http://${decoyHost}/steal`, headers: [], bodyless: true }))
    assert.equal(await closed, 1002)
    assert.equal(decoy.requests.length, 0, 'the decoy host was never contacted')
  })
})
