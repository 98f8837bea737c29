import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { TCP_SUBPROTOCOL, TcpCloseCode, WsTcpDuplex } from '../../../src/http/ws-tcp-duplex.js'

/** A real WebSocket pair on loopback (port 0): the server's end and the client's, raw. */
async function pair(): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, [TCP_SUBPROTOCOL])
  // ws's close() leaves connections open: end both sides, then the listener.
  after(() => {
    client.terminate()
    for (const c of wss.clients) c.terminate()
    wss.close()
  })
  const [server] = (await once(wss, 'connection')) as [WebSocket]
  await once(client, 'open')
  return { server, client }
}

/** Everything a Duplex yields until its end, or the error that destroyed it. */
function drain(duplex: WsTcpDuplex): Promise<{ data: string; error: (Error & { code?: string }) | undefined }> {
  return new Promise((resolve) => {
    let data = ''
    duplex.on('data', (c: Buffer) => (data += c.toString()))
    duplex.on('end', () => resolve({ data, error: undefined }))
    duplex.on('error', (error) => resolve({ data, error }))
  })
}

test('half-close: one side ends, the other keeps sending, then both close with 1000', async () => {
  const { server, client } = await pair()
  const a = new WsTcpDuplex(client)
  const b = new WsTcpDuplex(server)
  const atB = drain(b)
  a.end('from a')
  assert.deepEqual(await atB, { data: 'from a', error: undefined })
  const atA = drain(a)
  b.write('still from b after the FIN')
  b.end()
  assert.deepEqual(await atA, { data: 'still from b after the FIN', error: undefined })
  const [[code]] = (await Promise.all([once(client, 'close'), once(server, 'close')])) as [[number], [number]]
  assert.equal(code, TcpCloseCode.DONE)
})

test('a destroy with an error is a reset on the other side (ECONNRESET), with the reason', async () => {
  const { server, client } = await pair()
  const a = new WsTcpDuplex(client)
  const b = new WsTcpDuplex(server)
  a.on('error', () => {})
  const atB = drain(b)
  a.write('partial')
  a.destroy(new Error('visitor socket was reset'))
  const result = await atB
  assert.equal(result.error?.code, 'ECONNRESET')
  assert.match(result.error!.message, /visitor socket was reset/)
})

test('a lost WebSocket (no close frame) is a reset', async () => {
  const { server, client } = await pair()
  const b = new WsTcpDuplex(server)
  const atB = drain(b)
  client.terminate()
  assert.equal((await atB).error?.code, 'ECONNRESET')
})

test('an unknown text message is a reset; so is a close 1000 before the end', async () => {
  const first = await pair()
  const b = new WsTcpDuplex(first.server)
  const atB = drain(b)
  first.client.send('hello?')
  assert.match((await atB).error?.message ?? '', /unknown adit.tcp.v1 text message/)
  const [code] = (await once(first.client, 'close')) as [number]
  assert.equal(code, TcpCloseCode.RESET)

  const second = await pair()
  const d = new WsTcpDuplex(second.server)
  const atD = drain(d)
  second.client.close(1000)
  assert.equal((await atD).error?.code, 'ECONNRESET')
})

test('a write larger than one message is split and arrives whole, in order', async () => {
  const { server, client } = await pair()
  const a = new WsTcpDuplex(client)
  const b = new WsTcpDuplex(server)
  const sizes: number[] = []
  server.on('message', (m: Buffer) => sizes.push(m.length))
  const big = Buffer.alloc(600 * 1024, 7)
  const chunks: Buffer[] = []
  b.on('data', (c: Buffer) => chunks.push(c))
  a.end(big)
  await once(b, 'end')
  b.end()
  a.resume()
  await once(client, 'close')
  assert.ok(Buffer.concat(chunks).equals(big))
  assert.ok(sizes.length >= 3 && sizes.every((n) => n <= 256 * 1024), `message sizes ${sizes.join(',')}`)
})
