/**
 * LocalForwarder between an in-memory session (the server's end in the
 * test's hands) and a real node:http service on 127.0.0.1 port 0: bodies both
 * ways in chaotic pieces, backpressure from a server that returns credit late
 * reaching the local socket, and the resets a broken service or server cause.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { LocalForwarder } from '../../../src/agent/local-forwarder.js'
import { buildRouteTable } from '../../../src/agent/routes.js'
import { INITIAL_WINDOW, ResetCode, StreamState, type RequestHead } from '../../../src/protocol/index.js'
import { sessionPair } from '../protocol/memory-transport.js'
import { AgentHandler, cut, patterned } from '../server/exchange-harness.js'

const KiB = 1024

type Service = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

/** A local service that reads each request's body whole, then calls `answer`; and an agent forwarding to it. */
async function forwarderHarness(
  t: TestContext,
  answer: Service,
  options: { local?: string; holdCredit?: boolean; raw?: (req: IncomingMessage, res: ServerResponse) => void } = {},
) {
  const service = createServer(
    options.raw ??
      ((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', () => answer(req, res, Buffer.concat(chunks)))
      }),
  )
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve))
  const port = (service.address() as AddressInfo).port
  const forwarder = new LocalForwarder({
    routes: buildRouteTable([], { local: options.local ?? `http://127.0.0.1:${port}` }),
    hostHeader: 'rewrite',
    connections: 4,
    observer: undefined,
    tunnelId: () => 't',
  })
  const pair = sessionPair({ endFlag: true, trailers: true, onStream: (stream, head) => forwarder.forward(stream, head) }, { endFlag: true, trailers: true })
  const opened: AgentHandler[] = []
  const pump = setInterval(() => {
    for (const h of opened) h.releaseCredit()
    pair.pump()
  }, 1)
  t.after(async () => {
    clearInterval(pump)
    pair.server.close()
    pair.agent.close()
    await forwarder.close()
    service.closeAllConnections()
    await new Promise<void>((resolve) => service.close(() => resolve()))
  })
  /** Opens a stream from the server's side; its handler records the response and returns credit (late with holdCredit). */
  const open = (head: RequestHead): AgentHandler => {
    let handler!: AgentHandler
    const proxy = {
      onHead: (h: Parameters<AgentHandler['onHead']>[0]) => handler.onHead(h),
      onData: (c: Buffer) => handler.onData(c),
      onTrailers: (tr: Array<[string, string]>) => handler.onTrailers(tr),
      onEnd: () => handler.onEnd(),
      onReset: (code: number, reason: string) => handler.onReset(code, reason),
      onDrain: () => handler.onDrain(),
    }
    const stream = pair.server.openStream(head, proxy)!
    handler = new AgentHandler(stream)
    handler.holdCredit = options.holdCredit === true
    opened.push(handler)
    return handler
  }
  return { pair, open, port }
}

describe('LocalForwarder: bodies in chaotic pieces', () => {
  it('property: a request body and a response body in any pieces reach the service and come back intact', async (t) => {
    const bodies = new Map<string, Buffer>()
    const h = await forwarderHarness(t, (req, res, body) => {
      const [, id, length, framing, pieces] = (req.url ?? '').split('/')
      const response = patterned(Number(length), Number(id))
      bodies.set(id!, body)
      res.writeHead(200, framing === 'length' ? { 'content-length': String(response.length) } : {})
      const parts = cut(response, (pieces ?? '').split(',').filter(Boolean).map(Number))
      for (const part of parts) res.write(part)
      res.end()
    })
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 400 * KiB }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 0, max: 400 * KiB }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom('length', 'chunked'),
        fc.boolean(),
        async (requestLength, requestCuts, responseLength, responseCuts, framing, fold) => {
          const id = String(n++)
          const request = patterned(requestLength, 7 + Number(id))
          const head: RequestHead = {
            method: 'POST',
            path: `/${id}/${responseLength}/${framing}/${responseCuts.join(',')}`,
            headers: [
              ['host', 'public.example'],
              ['content-length', String(requestLength)],
            ],
            requestId: `r${id}`,
            ...(requestLength === 0 ? { bodyless: true } : {}),
          }
          const server = h.open(head)
          if (requestLength === 0) server.stream.end()
          else await server.writeBody(cut(request, requestCuts), fold)
          await server.requestDone()
          assert.equal(server.resetCode, undefined, `no reset (${server.events.find((e) => e.kind === 'reset') ? JSON.stringify(server.events.at(-1)) : ''})`)
          assert.equal(
            server.kinds().find((k) => k !== 'drain'),
            'head',
          )
          assert.ok(server.body.equals(patterned(responseLength, Number(id))), 'the response, byte for byte')
          assert.ok(bodies.get(id)!.equals(request), 'the request, byte for byte')
          assert.equal(server.stream.state, StreamState.ENDED)
        },
      ),
      { numRuns: 20, includeErrorInReport: true, endOnFailure: true },
    )
    assert.equal(h.pair.agent.activeStreams, 0)
  })
})

describe('LocalForwarder: backpressure and resets', () => {
  it('a server that returns no credit stops the download at the window; the local socket waits, then everything arrives', async (t) => {
    const total = 32 * 1024 * KiB
    const chunk = patterned(64 * KiB)
    let refusedWrites = 0
    let sent = 0
    const h = await forwarderHarness(
      t,
      (_req, res) => {
        res.writeHead(200, { 'content-length': String(total) })
        const more = (): void => {
          while (sent < total) {
            sent += chunk.length
            if (!res.write(chunk)) {
              refusedWrites++
              res.once('drain', more)
              return
            }
          }
          res.end()
        }
        more()
      },
      { holdCredit: true },
    )
    const server = h.open({ method: 'GET', path: '/big', headers: [['host', 'x']], requestId: 'big', bodyless: true })
    server.frozen = true
    // No credit comes back: the agent sends one window and must stop (a bounded wait for it to settle).
    let last = -1
    let still = 0
    for (let i = 0; i < 500 && still < 10; i++) {
      await new Promise((r) => setTimeout(r, 10))
      still = server.received === last ? still + 1 : 0
      last = server.received
    }
    assert.equal(still, 10, 'the download stopped')
    assert.equal(server.received, INITIAL_WINDOW, 'exactly the credit granted, and not a byte more')
    assert.ok(refusedWrites > 0, 'the local service felt the backpressure')
    // Paused undici stops reading the local socket: the service is stuck at the socket buffers, not done.
    assert.ok(sent < total, `the service wrote ${sent} of ${total} bytes, and waits`)
    assert.equal(h.pair.agent.activeStreams, 1)
    server.frozen = false
    server.holdCredit = false
    server.releaseCredit()
    await server.requestDone()
    assert.equal(server.received, total)
    assert.equal(server.resetCode, undefined)
  })

  it('a local service that is not there: RESET LOCAL_UNREACHABLE', async (t) => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const closedPort = (probe.address() as AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const h = await forwarderHarness(t, () => {}, { local: `http://127.0.0.1:${closedPort}` })
    const server = h.open({ method: 'GET', path: '/', headers: [['host', 'x']], requestId: 'r', bodyless: true })
    assert.equal(await server.resetSeen(), ResetCode.LOCAL_UNREACHABLE)
  })

  it('a service that breaks off mid-response: RESET LOCAL_ERROR after the head', async (t) => {
    const h = await forwarderHarness(t, (_req, res) => {
      res.writeHead(200, { 'content-length': '100' })
      res.write('part of it', () => res.destroy())
    })
    const server = h.open({ method: 'GET', path: '/', headers: [['host', 'x']], requestId: 'r', bodyless: true })
    assert.equal(await server.resetSeen(), ResetCode.LOCAL_ERROR)
    assert.equal(
      server.kinds().find((k) => k !== 'drain'),
      'head',
    )
  })

  it('the server resets a request mid-body: the local service sees its request aborted', async (t) => {
    let firstBytes!: () => void
    const receiving = new Promise<void>((resolve) => (firstBytes = resolve))
    let aborted!: () => void
    const sawAbort = new Promise<void>((resolve) => (aborted = resolve))
    const h = await forwarderHarness(t, () => {}, {
      // A service that watches the request instead of reading it whole.
      raw: (req) => {
        req.on('data', () => firstBytes())
        req.on('close', () => {
          if (!req.complete) aborted()
        })
      },
    })
    const server = h.open({
      method: 'POST',
      path: '/',
      headers: [
        ['host', 'x'],
        ['content-length', '1000000'],
      ],
      requestId: 'r',
    })
    server.stream.write(patterned(10 * KiB))
    await receiving
    server.stream.reset(ResetCode.CANCEL, 'client went away')
    await sawAbort
  })
})
