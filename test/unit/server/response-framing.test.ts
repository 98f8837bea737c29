import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { frameResponseHead, isFramingError } from '../../../src/server/response-framing.js'
import { abortSocket } from '../../../src/http/abort-socket.js'

describe('frameResponseHead: one valid content-length or none, a final status in 200–599', () => {
  it('passes a valid head through, the length normalised to one header', () => {
    const framed = frameResponseHead(
      200,
      [
        ['Content-Type', 'text/plain'],
        ['Content-Length', '005'],
      ],
      'GET',
    )
    assert.deepEqual(framed, {
      headers: [
        ['Content-Type', 'text/plain'],
        ['content-length', '5'],
      ],
      bodyLength: 5,
    })
  })

  it('equal repeated values are one length; no length means the body runs to its end', () => {
    for (const headers of [
      [['content-length', '5, 5']],
      [
        ['content-length', '5'],
        ['CONTENT-LENGTH', '5'],
      ],
    ] as Array<Array<[string, string]>>) {
      const framed = frameResponseHead(200, headers, 'GET')
      assert.ok(!isFramingError(framed))
      assert.deepEqual(framed.headers, [['content-length', '5']])
    }
    assert.deepEqual(frameResponseHead(200, [], 'GET'), { headers: [], bodyLength: null })
  })

  it('refuses abc, -1, +5, 1e3, empty, "5, 50", two different values and lengths beyond a safe integer', () => {
    const bad: Array<Array<[string, string]>> = [
      [['content-length', 'abc']],
      [['content-length', '-1']],
      [['content-length', '+5']],
      [['content-length', '1e3']],
      [['content-length', '']],
      [['content-length', '5, 50']],
      [['content-length', '5,']],
      [
        ['content-length', '5'],
        ['content-length', '6'],
      ],
      [['content-length', '9'.repeat(16)]],
    ]
    for (const headers of bad) assert.ok(isFramingError(frameResponseHead(200, headers, 'GET')), JSON.stringify(headers))
  })

  it('refuses statuses outside 200–599 for a final head', () => {
    for (const status of [600, 999, 199, 0, 200.5]) assert.ok(isFramingError(frameResponseHead(status, [], 'GET')), String(status))
    for (const status of [200, 404, 599]) assert.ok(!isFramingError(frameResponseHead(status, [], 'GET')), String(status))
  })

  it('a HEAD request, a 204 and a 304 promise no body whatever their length says', () => {
    assert.equal((frameResponseHead(200, [['content-length', '50']], 'HEAD') as { bodyLength: number }).bodyLength, 0)
    assert.equal((frameResponseHead(204, [], 'GET') as { bodyLength: number }).bodyLength, 0)
    assert.equal((frameResponseHead(304, [['content-length', '50']], 'GET') as { bodyLength: number }).bodyLength, 0)
  })
})

describe('abortSocket', () => {
  /** Runs `act` on the server side of a fresh loopback connection; resolves with whether that socket closed (its handle released) within 2 s. */
  async function closesAfter(act: (socket: Socket) => void): Promise<{ closed: boolean; clientSaw: string }> {
    const server = createServer({ allowHalfOpen: true })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const accepted = once(server, 'connection') as Promise<[Socket]>
      const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
      let clientSaw = 'open'
      client.on('error', (error: NodeJS.ErrnoException) => (clientSaw = error.code ?? 'error'))
      client.on('end', () => (clientSaw = clientSaw === 'open' ? 'end' : clientSaw))
      client.resume()
      const [socket] = await accepted
      socket.on('error', () => {})
      const closed = once(socket, 'close').then(() => true)
      act(socket)
      const result = await Promise.race([closed, delay(2_000).then(() => false)])
      client.destroy()
      return { closed: result, clientSaw }
    } finally {
      server.close()
    }
  }

  it('resets a TCP socket that is still open (the client sees ECONNRESET)', async () => {
    const { closed, clientSaw } = await closesAfter((socket) => abortSocket(socket))
    assert.equal(closed, true)
    assert.equal(clientSaw, 'ECONNRESET')
  })

  it('releases a socket that was already ended (Node 20 leaked its handle and descriptor when it was reset after end())', async () => {
    const { closed } = await closesAfter((socket) => {
      socket.end()
      abortSocket(socket)
    })
    assert.equal(closed, true, "the socket emitted 'close': its handle is released")
  })
})
