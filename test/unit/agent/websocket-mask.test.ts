import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { once } from 'node:events'
import { maskNeeded, ServerConnection } from '../../../src/agent/server-connection.js'
import { silentLogger } from '../../../src/observability/logger.js'

test('the agent masks only where a cleartext intermediary could read its frames', () => {
  for (const url of [
    'wss://tunnel.example.com/ws',
    'https://tunnel.example.com/ws',
    'ws://127.0.0.1:8080/ws',
    'ws://127.9.9.9/ws',
    'ws://[::1]:80/ws',
    'ws://localhost:80/ws',
  ]) {
    assert.equal(maskNeeded(url), false, url)
  }
  for (const url of ['ws://tunnel.example.com/ws', 'ws://10.0.0.1/ws', 'ws://[fe80::1]/ws', 'ws://128.0.0.1/ws', 'ws://localhost.example.com/ws']) {
    assert.equal(maskNeeded(url), true, url)
  }
})

/**
 * A hand-made WebSocket server on loopback: it accepts the upgrade, sends a
 * ping and reads the pong's masking key off the wire (ws would unmask it
 * before anyone could look).
 */
test('to a loopback server the agent sends frames with an all-zero masking key', async (t) => {
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    let head = Buffer.alloc(0)
    const onHandshake = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', onHandshake)
      const key = /sec-websocket-key: *(\S+)/i.exec(head.toString('latin1'))![1]!
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: adit.v2\r\n\r\n`,
      )
      socket.write(Buffer.from([0x89, 0x04, 0x70, 0x69, 0x6e, 0x67])) // ping "ping"
      socket.on('data', (frame: Buffer) => socket.emit('frame', frame))
    }
    socket.on('data', onHandshake)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const pong = new Promise<Buffer>((resolve) => server.once('connection', (socket: Socket) => socket.once('frame', resolve)))
  const connection = new ServerConnection({
    url: `ws://127.0.0.1:${port}/ws`,
    secret: 's',
    forwarder: { forward: () => assert.fail('no stream is opened') },
    maxFrameBytes: 1 << 20,
    logger: silentLogger(),
    silenceTimeoutMs: 60_000,
    onOpen: () => {},
    onGoAway: () => {},
    onClose: () => {},
  })
  t.after(() => {
    connection.terminate()
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const frame = await pong
  assert.equal(frame[0], 0x8a, 'a pong')
  assert.equal(frame[1], 0x80 | 4, 'masked, 4 bytes')
  assert.deepEqual([...frame.subarray(2, 6)], [0, 0, 0, 0], 'masking key')
  assert.equal(frame.subarray(6, 10).toString(), 'ping', 'the payload goes as it is')
})
