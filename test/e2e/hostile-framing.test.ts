import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import type { WebSocket } from 'ws'
import { encodeData, encodeEnd, encodeHead, type RequestHead } from '../../src/protocol/index.js'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'
import { connectRawAgent } from '../harness/raw-agent.js'
import { watchPeerEnding } from '../harness/peer-ending.js'

/** What a raw public client saw: every byte, and how the connection ended. */
interface RawOutcome {
  text: string
  /** 'reset' (ECONNRESET / EPIPE), 'fin' (a clean end from the server), or 'open' (still open at the deadline). */
  ended: 'reset' | 'fin' | 'open'
}

/**
 * A public client on one keep-alive socket: writes `first`, waits until the
 * server's answer head (and `settleMs` more for anything behind it), then
 * writes `second` (if any) on the same socket and reads until the server
 * closes or `timeoutMs` passes.
 */
function rawClient(port: number, first: string, second?: string, settleMs = 300, timeoutMs = 3000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    const chunks: Buffer[] = []
    let ended: RawOutcome['ended'] = 'open'
    let sentSecond = second === undefined
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), ended })
    }
    const timer = setTimeout(done, timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (!sentSecond && Buffer.concat(chunks).includes('\r\n\r\n')) {
        sentSecond = true
        setTimeout(() => {
          if (!socket.destroyed && ended === 'open') socket.write(second!)
        }, settleMs)
      }
    })
    socket.on('error', () => {})
    watchPeerEnding(socket, (how) => (ended = how))
    socket.on('close', done)
    socket.write(first)
  })
}

/** Status codes of every response head in raw HTTP text, informational ones included. */
function statusesOf(text: string): number[] {
  return [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]))
}

function headerOf(text: string, name: string): string | undefined {
  return new RegExp(`^${name}: *(.*)$`, 'im').exec(text.slice(0, text.indexOf('\r\n\r\n')))?.[1]?.trim()
}

/** A forged HTTP response for the client's *next* request: what a hostile agent hopes to smuggle. */
const FORGED = 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Forged: yes\r\n\r\nforged!'

describe('strict response framing: the server owns the public wire; nothing an agent sends is written unframed', () => {
  const jobs = cleanup()
  let server: ServerProcess
  let other: AgentProcess
  let hostileBase: string
  /** What the hostile agent answers, per request path. */
  const answers = new Map<string, (ws: WebSocket, streamId: number, head: RequestHead) => void>()

  /** Another tunnel, served by a real agent: it must answer after every attack. */
  async function otherTunnelAnswers(): Promise<void> {
    const res = await request(`${other.publicUrl}echo`)
    await res.body.text()
    assert.equal(res.statusCode, 200, 'another tunnel still answers: the server lives on')
  }

  before(async () => {
    server = jobs.add(await startServerProcess())
    const service = jobs.add(await startLocalService())
    const dir = jobs.add(tempDir())
    other = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('other.json') }))
    const res = await request(`${server.url}/register`, { method: 'POST' })
    const tunnel = (await res.body.json()) as { id: string; secret: string }
    hostileBase = `/pub/${tunnel.id}`
    jobs.add(
      await connectRawAgent(server.url, tunnel.id, tunnel.secret, (ws, streamId, head) => {
        const answer = answers.get(head.path.split('?')[0]!)
        if (answer) answer(ws, streamId, head)
      }),
    )
  })
  after(() => jobs.run())

  it('content-length: 5 plus 75 more DATA bytes: the surplus never reaches the keep-alive socket; the next request gets its own answer or a closed connection', async (t) => {
    const surplus = FORGED.padEnd(75, ' ')
    // One frame that runs past the declared length, and the same bytes split at the boundary.
    answers.set('/one-frame', (ws, id) => {
      ws.send(encodeHead(id, { status: 200, headers: [['content-length', '5']] }))
      ws.send(encodeData(id, Buffer.from(`hello${surplus}`)))
      ws.send(encodeEnd(id))
    })
    answers.set('/two-frames', (ws, id) => {
      ws.send(encodeHead(id, { status: 200, headers: [['content-length', '5']] }))
      ws.send(encodeData(id, Buffer.from('hello')))
      ws.send(encodeData(id, Buffer.from(surplus)))
      ws.send(encodeEnd(id))
    })
    const otherPath = new URL(other.publicUrl).pathname
    for (const path of ['/one-frame', '/two-frames']) {
      const outcome = await rawClient(
        server.port,
        `GET ${hostileBase}${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
        `GET ${otherPath}echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      )
      const statuses = statusesOf(outcome.text)
      t.diagnostic(
        `${path}: statuses ${JSON.stringify(statuses)}, ${outcome.text.length} bytes to the client, connection ${outcome.ended}; surplus on the socket: ${outcome.text.includes('forged')}`,
      )
      assert.doesNotMatch(outcome.text, /forged|X-Forged/i, `${path}: the surplus bytes never reached the public socket`)
      assert.ok(outcome.ended !== 'open', `${path}: the connection was not kept for reuse`)
      if (statuses.length > 1) {
        // The second request was answered: by the other tunnel, as itself.
        assert.deepEqual(statuses, [200, 200])
        assert.match(outcome.text, /"url":"\/echo"/, `${path}: the second answer is the other tunnel's own`)
      }
    }
    await otherTunnelAnswers()
  })

  it('invalid content-length from the agent (abc, -1, "5, 50", two different values) → 502 ADIT_ERR_BAD_RESPONSE with a one-line body', async (t) => {
    const shapes: Record<string, Array<[string, string]>> = {
      abc: [['content-length', 'abc']],
      '-1': [['content-length', '-1']],
      '5, 50': [['content-length', '5, 50']],
      'two values': [
        ['content-length', '5'],
        ['Content-Length', '6'],
      ],
      '1e3': [['content-length', '1e3']],
    }
    for (const [name, headers] of Object.entries(shapes)) {
      const path = `/cl-${encodeURIComponent(name).replace(/%/g, '')}`
      answers.set(path, (ws, id) => {
        ws.send(encodeHead(id, { status: 200, headers }))
        ws.send(encodeData(id, Buffer.from('hello')))
        ws.send(encodeEnd(id))
      })
      const outcome = await rawClient(server.port, `GET ${hostileBase}${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      const body = outcome.text.slice(outcome.text.indexOf('\r\n\r\n') + 4)
      t.diagnostic(`content-length ${name}: ${statusesOf(outcome.text).join(',')} ${headerOf(outcome.text, 'x-adit-error')}: ${JSON.stringify(body)}`)
      assert.deepEqual(statusesOf(outcome.text), [502], name)
      assert.equal(headerOf(outcome.text, 'x-adit-error'), 'ADIT_ERR_BAD_RESPONSE', name)
      assert.equal(body.split('\n').filter(Boolean).length, 1, `${name}: one line`)
      assert.match(body, /content-length/i, `${name}: the body says what was wrong`)
      assert.doesNotMatch(outcome.text, /hello/, `${name}: nothing of the agent's body`)
    }
    // Equal repeated values are one length (RFC 9110 §8.6): served, one header.
    answers.set('/cl-same', (ws, id) => {
      ws.send(
        encodeHead(id, {
          status: 200,
          headers: [
            ['content-length', '5'],
            ['content-length', '5'],
          ],
        }),
      )
      ws.send(encodeData(id, Buffer.from('hello')))
      ws.send(encodeEnd(id))
    })
    const same = await rawClient(server.port, `GET ${hostileBase}/cl-same HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    assert.deepEqual(statusesOf(same.text), [200])
    assert.equal(same.text.match(/^content-length:/gim)?.length, 1)
    assert.ok(same.text.endsWith('\r\n\r\nhello'))
    await otherTunnelAnswers()
  })

  it('status outside 100–599 (600, 999) → 502 ADIT_ERR_BAD_RESPONSE', async (t) => {
    for (const status of [600, 999]) {
      answers.set(`/status-${status}`, (ws, id) => {
        ws.send(encodeHead(id, { status, headers: [['content-type', 'text/plain']] }))
        ws.send(encodeData(id, Buffer.from('hello')))
        ws.send(encodeEnd(id))
      })
      const outcome = await rawClient(server.port, `GET ${hostileBase}/status-${status} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      t.diagnostic(`status ${status}: the client got ${JSON.stringify(outcome.text.split('\r\n')[0])}, ${headerOf(outcome.text, 'x-adit-error')}`)
      assert.deepEqual(statusesOf(outcome.text), [502], String(status))
      assert.equal(headerOf(outcome.text, 'x-adit-error'), 'ADIT_ERR_BAD_RESPONSE')
      assert.match(outcome.text, new RegExp(`status ${status}`))
    }
    await otherTunnelAnswers()
  })

  it('1xx: 100 and 102 are dropped, 103 goes out as early hints, a final answer follows; a 1xx alone is never a final answer', async (t) => {
    for (const interim of [100, 102, 103]) {
      answers.set(`/interim-${interim}`, (ws, id) => {
        ws.send(encodeHead(id, { status: interim, headers: interim === 103 ? [['link', '</style.css>; rel=preload; as=style']] : [] }))
        ws.send(encodeHead(id, { status: 200, headers: [['content-length', '5']] }))
        ws.send(encodeData(id, Buffer.from('final')))
        ws.send(encodeEnd(id))
      })
      const outcome = await rawClient(server.port, `GET ${hostileBase}/interim-${interim} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
      const statuses = statusesOf(outcome.text)
      t.diagnostic(`${interim} then 200: the client saw statuses ${JSON.stringify(statuses)}, body ${JSON.stringify(outcome.text.slice(-5))}`)
      assert.deepEqual(statuses, interim === 103 ? [103, 200] : [200], String(interim))
      if (interim === 103) assert.match(outcome.text, /^link: <\/style\.css>; rel=preload; as=style$/im)
      assert.ok(outcome.text.endsWith('\r\n\r\nfinal'), String(interim))
    }
    // An interim head followed straight by body bytes: no final answer was ever given.
    answers.set('/interim-only', (ws, id) => {
      ws.send(encodeHead(id, { status: 100, headers: [] }))
      ws.send(encodeData(id, Buffer.from('body-without-a-final-head')))
      ws.send(encodeEnd(id))
    })
    const lone = await rawClient(server.port, `GET ${hostileBase}/interim-only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.diagnostic(`100 then DATA: the client saw statuses ${JSON.stringify(statusesOf(lone.text))}`)
    assert.deepEqual(statusesOf(lone.text), [502])
    assert.doesNotMatch(lone.text, /body-without-a-final-head/)
    // 101 answers only an upgrade request.
    answers.set('/switching', (ws, id) => {
      ws.send(encodeHead(id, { status: 101, headers: [['upgrade', 'websocket']] }))
      ws.send(encodeData(id, Buffer.from('raw-bytes')))
    })
    const switching = await rawClient(server.port, `GET ${hostileBase}/switching HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    assert.deepEqual(statusesOf(switching.text), [502])
    assert.equal(headerOf(switching.text, 'x-adit-error'), 'ADIT_ERR_BAD_RESPONSE')
    await otherTunnelAnswers()
  })

  it('END before the declared content-length: the short body is not passed off as complete (reset, never reused)', async (t) => {
    answers.set('/short', (ws, id) => {
      ws.send(encodeHead(id, { status: 200, headers: [['content-length', '50']] }))
      ws.send(encodeData(id, Buffer.from('hello')))
      ws.send(encodeEnd(id))
    })
    const otherPath = new URL(other.publicUrl).pathname
    const outcome = await rawClient(
      server.port,
      `GET ${hostileBase}/short HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET ${otherPath}echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    )
    t.diagnostic(
      `content-length 50, 5 bytes, END: statuses ${JSON.stringify(statusesOf(outcome.text))}, ${outcome.text.length} bytes, connection ${outcome.ended}`,
    )
    assert.equal(outcome.ended, 'reset', 'a TCP reset tells the client the body is short')
    assert.ok(statusesOf(outcome.text).length <= 1, 'the second request was never answered as the rest of the short body')
    assert.doesNotMatch(outcome.text, /"url":"\/echo"/)
    await otherTunnelAnswers()
  })
})
