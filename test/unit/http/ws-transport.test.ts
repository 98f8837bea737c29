/**
 * The WebSocket transport's zero-copy DATA path: frames written as a header
 * buffer plus the payload as it is must arrive as exactly the messages
 * `ws.send(encodeData(...))` would have made, in order with frames sent the
 * ordinary way, at every WebSocket length encoding (7-bit, 16-bit, 64-bit),
 * from a server and from a client with an all-zero masking key.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { wsTransport } from '../../../src/http/ws-transport.js'
import { encodeData, encodeEnd, encodeWindow } from '../../../src/protocol/index.js'

/** Payload sizes around the WebSocket length encodings (frame = 5-byte adit header + payload). */
const SIZES = [0, 10, 4095, 4096, 65530, 65531, 70_000, 1024 * 1024 - 5]

function payload(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

async function pair(t: { after(fn: () => unknown): void }) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 })
  await once(wss, 'listening')
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, {
    maxPayload: 2 * 1024 * 1024,
    generateMask: (mask: Buffer) => mask.fill(0),
  })
  await once(client, 'open')
  const [server] = await accepted
  t.after(() => {
    client.terminate()
    wss.close()
  })
  return { server, client }
}

function collect(ws: WebSocket, count: number): Promise<Buffer[]> {
  const got: Buffer[] = []
  return new Promise((resolve) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, true)
      got.push(Buffer.from(data))
      if (got.length === count) resolve(got)
    })
  })
}

for (const from of ['server', 'client'] as const) {
  test(`DATA frames sent beside their headers arrive whole and in order (${from} → peer)`, async (t) => {
    const { server, client } = await pair(t)
    const [sending, receiving] = from === 'server' ? [server, client] : [client, server]
    const transport = wsTransport(sending, true)
    assert.ok(transport.sendData, 'an unmasked transport frames DATA itself')
    const expected: Buffer[] = []
    const arrived = collect(receiving, SIZES.length * 2)
    let sent = 0
    const allSent = new Promise<void>((resolve) => {
      SIZES.forEach((size, i) => {
        const data = payload(size, i)
        const end = i % 3 === 0
        const blocked = i % 2 === 1 && !end
        transport.sendData!(i + 1, data, end, blocked, () => {
          if (++sent === SIZES.length) resolve()
        })
        expected.push(encodeData(i + 1, data, end, blocked))
        // An ordinary frame between two DATA frames keeps its place.
        const other = i % 2 === 0 ? encodeEnd(i + 1) : encodeWindow(i + 1, 65536)
        transport.send(other)
        expected.push(other)
      })
    })
    const got = await arrived
    await allSent
    assert.equal(got.length, expected.length)
    got.forEach((message, i) => assert.ok(message.equals(expected[i]!), `message ${i} (${expected[i]!.length} bytes) differs`))
  })
}

test('a transport made before its client connected (as the agent makes it) frames DATA itself once open', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { generateMask: (mask: Buffer) => mask.fill(0) })
  t.after(() => {
    client.terminate()
    wss.close()
  })
  const transport = wsTransport(client, true)
  await once(client, 'open')
  const [server] = await accepted
  let viaWsSend = 0
  const send = client.send.bind(client)
  client.send = ((...args: Parameters<WebSocket['send']>) => {
    viaWsSend++
    return send(...args)
  }) as WebSocket['send']
  const data = payload(8192, 1)
  const arrived = collect(server, 1)
  transport.sendData!(1, data, false, false)
  const [message] = await arrived
  assert.ok(message!.equals(encodeData(1, data)))
  assert.equal(viaWsSend, 0, 'the 8 KiB payload went beside its header, not through ws.send')
})

test('a transport that must mask (a client with random keys) leaves DATA to ws.send', async (t) => {
  const { client } = await pair(t)
  assert.equal(wsTransport(client, false).sendData, undefined)
})
