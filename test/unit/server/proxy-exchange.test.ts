/**
 * ProxyExchange between a real public HTTP socket and an in-memory session:
 * bodies both ways in chaotic pieces, credit withheld while the public client
 * does not read, framing the server owns, retries before the head, timeouts
 * and a client that leaves.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { IncomingMessage } from 'node:http'
import { INITIAL_WINDOW, ResetCode, StreamState } from '../../../src/protocol/index.js'
import { ErrorCode } from '../../../src/errors.js'
import { cut, patterned, proxyHarness, publicRequest } from './exchange-harness.js'

/** A response-head hook for publicRequest and a promise of the public response it saw. */
function responded(): { onResponse: (res: IncomingMessage) => void; response: Promise<IncomingMessage> } {
  let onResponse!: (res: IncomingMessage) => void
  const response = new Promise<IncomingMessage>((resolve) => (onResponse = resolve))
  return { onResponse, response }
}

const KiB = 1024

describe('ProxyExchange: bodies in chaotic pieces', () => {
  it('property: a response body in any pieces, by content-length or chunked, END folded or not, reaches the public client intact', async (t) => {
    const h = await proxyHarness(t)
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 600 * KiB }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        (length, offsets, byLength, fold) => inner(length, offsets, byLength, fold),
      ),
      { numRuns: 25, includeErrorInReport: true, endOnFailure: true },
    )
    async function inner(length: number, offsets: number[], byLength: boolean, fold: boolean): Promise<void> {
      const index = n++
      const body = patterned(length, index)
      const outcome = publicRequest(h.port, { path: `/r${index}` })
      const agent = await h.agentSides.nth(index)
      assert.equal(agent.head.path, `/r${index}`)
      if (byLength && length === 0) {
        agent.stream.sendHead({ status: 200, headers: [['content-length', '0']] }, true)
      } else {
        agent.stream.sendHead({ status: 200, headers: byLength ? [['content-length', String(length)]] : [] })
        await agent.handler.writeBody(cut(body, offsets), fold)
      }
      const got = await outcome
      const summary = await h.summaries.nth(index)
      assert.equal(got.error, undefined)
      assert.equal(got.status, 200)
      assert.equal(got.headers['x-adit-request-id'], `req${index + 1}`)
      assert.equal(got.body.length, length)
      assert.ok(got.body.equals(body), 'same bytes in the same order')
      assert.equal(summary.responseBytes, length)
      assert.equal(summary.error, undefined)
      assert.equal(agent.stream.state, StreamState.ENDED)
    }
    assert.equal(h.pair.server.activeStreams, 0)
  })

  it('property: a request body in any pieces, while the agent returns credit late, reaches the agent intact', async (t) => {
    const h = await proxyHarness(t, { holdCredit: true })
    let n = 0
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 700 * KiB }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (length, offsets, chunked) => {
        const index = n++
        const body = patterned(length, index)
        const headers: Record<string, string> = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(length) }
        const outcome = publicRequest(h.port, { method: 'POST', headers, pieces: cut(body, offsets) })
        const agent = await h.agentSides.nth(index)
        assert.equal(agent.head.bodyless, undefined)
        await agent.handler.requestDone()
        assert.equal(agent.handler.ended, true)
        assert.ok(agent.handler.body.equals(body))
        // Credit is per stream: the server never had more than the window in flight.
        assert.ok(agent.stream.recvWindow >= 0)
        agent.stream.sendHead({ status: 201, headers: [] }, true)
        const got = await outcome
        assert.equal(got.status, 201)
        assert.equal((await h.summaries.nth(index)).requestBytes, length)
      }),
      { numRuns: 15, includeErrorInReport: true, endOnFailure: true },
    )
  })
})

describe('ProxyExchange: flow control against the public socket', () => {
  it('a public client that does not read shuts the agent’s window: the server holds at most one window, then everything arrives', async (t) => {
    const h = await proxyHarness(t)
    const total = 48 * 1024 * KiB
    const chunk = patterned(64 * KiB)
    let paused: IncomingMessage | undefined
    const outcome = publicRequest(h.port, {
      onResponse: (res) => {
        res.pause()
        paused = res
      },
    })
    const agent = await h.agentSides.nth(0)
    agent.stream.sendHead({ status: 200, headers: [['content-length', String(total)]] })
    const writing = agent.handler.writeBody(
      Array.from({ length: total / chunk.length }, () => chunk),
      true,
    )
    // Wait (bounded) until the agent's sending has stopped moving: the window is shut.
    let last = -1
    let still = 0
    for (let i = 0; i < 500 && still < 10; i++) {
      await new Promise((r) => setTimeout(r, 10))
      still = agent.stream.bytesSent === last ? still + 1 : 0
      last = agent.stream.bytesSent
    }
    assert.equal(still, 10, 'the agent stopped sending')
    assert.ok(agent.stream.bytesSent < total, `stalled at ${agent.stream.bytesSent} of ${total} bytes (the kernel's socket buffers hold the rest)`)
    assert.equal(agent.stream.sendWindow, 0, 'for want of credit, not for want of bytes')
    const res = h.exchanges[0]!.res
    // (A ServerResponse's writableLength already counts its socket's.)
    const heldByServer = res.writableLength
    assert.ok(heldByServer <= INITIAL_WINDOW + 64 * KiB, `the server holds ${heldByServer} bytes for the slow client: one window at most`)
    assert.ok(paused !== undefined)
    paused.resume()
    const got = await outcome
    await writing
    assert.equal(got.body.length, total)
    assert.ok(got.body.subarray(0, chunk.length).equals(chunk) && got.body.subarray(total - chunk.length).equals(chunk))
  })
})

describe('ProxyExchange: the server owns the public framing', () => {
  it('END before the declared content-length: the public response is aborted, never passed off as complete', async (t) => {
    const h = await proxyHarness(t)
    const outcome = publicRequest(h.port)
    const agent = await h.agentSides.nth(0)
    agent.stream.sendHead({ status: 200, headers: [['content-length', '50']] })
    agent.stream.write(Buffer.from('hello'))
    agent.stream.end()
    const got = await outcome
    assert.notEqual(got.error, undefined, 'the client sees a broken response')
    assert.ok(got.body.length < 50)
    assert.equal((await h.summaries.nth(0)).error, 'response body shorter than its content-length')
  })

  it('DATA past the declared content-length: the stream is reset PROTOCOL_ERROR and the surplus never written', async (t) => {
    const h = await proxyHarness(t)
    const outcome = publicRequest(h.port)
    const agent = await h.agentSides.nth(0)
    agent.stream.sendHead({ status: 200, headers: [['content-length', '5']] })
    agent.stream.write(Buffer.from('hello, and more'))
    const got = await outcome
    assert.ok(got.body.length <= 5)
    assert.equal(await agent.handler.resetSeen(), ResetCode.PROTOCOL_ERROR)
    assert.equal((await h.summaries.nth(0)).error, 'response body longer than its content-length')
  })

  it('a status outside 100–599 is answered 502 ADIT_ERR_BAD_RESPONSE and the stream reset', async (t) => {
    const h = await proxyHarness(t)
    const outcome = publicRequest(h.port)
    const agent = await h.agentSides.nth(0)
    agent.stream.sendHead({ status: 600, headers: [] })
    const got = await outcome
    assert.equal(got.status, 502)
    assert.equal(got.headers['x-adit-error'], 'ADIT_ERR_BAD_RESPONSE')
    assert.equal(await agent.handler.resetSeen(), ResetCode.PROTOCOL_ERROR)
  })
})

describe('ProxyExchange: resets, retries, timeouts', () => {
  it('REFUSED before the head: redispatched (the body untouched) and served by the next stream', async (t) => {
    const h = await proxyHarness(t)
    const outcome = publicRequest(h.port, { path: '/again' })
    const first = await h.agentSides.nth(0)
    first.stream.reset(ResetCode.REFUSED, 'going away')
    const second = await h.agentSides.nth(1)
    assert.equal(second.head.path, '/again')
    second.stream.sendHead({ status: 200, headers: [] })
    second.stream.writeLast(Buffer.from('second try'))
    const got = await outcome
    assert.equal(got.body.toString(), 'second try')
    assert.equal(h.redispatched, 1)
    assert.equal((await h.summaries.nth(0)).retries, 1)
  })

  it('the connection lost before the head: a bodiless GET is retried; a POST whose body left is answered 502, not sent twice', async (t) => {
    const h = await proxyHarness(t)
    h.redispatch = (exchange) => {
      h.redispatched++
      exchange.fail(ErrorCode.AGENT_NOT_CONNECTED)
    }
    const get = publicRequest(h.port)
    await h.agentSides.nth(0)
    const post = publicRequest(h.port, { method: 'POST', headers: { 'content-length': '4' }, pieces: [Buffer.from('body')] })
    const postSide = await h.agentSides.nth(1)
    await postSide.handler.requestDone()
    h.pair.server.close('socket closed')
    const [g, p] = await Promise.all([get, post])
    assert.equal(h.redispatched, 1, 'only the GET was handed back')
    assert.equal(g.status, 502)
    assert.equal(p.status, 502)
    assert.equal(p.headers['x-adit-error'], 'ADIT_ERR_AGENT_NOT_CONNECTED')
    const codes = [(await h.summaries.nth(0)).error, (await h.summaries.nth(1)).error].sort()
    assert.deepEqual(codes, ['ADIT_ERR_AGENT_NOT_CONNECTED', 'socket closed'])
  })

  it('LOCAL_UNREACHABLE before the head → 502 ADIT_ERR_LOCAL_UNREACHABLE; a reset mid-body aborts the public response', async (t) => {
    const h = await proxyHarness(t)
    const refused = publicRequest(h.port)
    ;(await h.agentSides.nth(0)).stream.reset(ResetCode.LOCAL_UNREACHABLE, 'ECONNREFUSED')
    const r = await refused
    assert.equal(r.status, 502)
    assert.equal(r.headers['x-adit-error'], 'ADIT_ERR_LOCAL_UNREACHABLE')
    const seen = responded()
    const midway = publicRequest(h.port, { onResponse: seen.onResponse })
    const agent = await h.agentSides.nth(1)
    agent.stream.sendHead({ status: 200, headers: [['content-length', '100']] })
    agent.stream.write(Buffer.from('half'))
    await seen.response
    agent.stream.reset(ResetCode.LOCAL_ERROR, 'service crashed')
    const m = await midway
    assert.equal(m.status, 200)
    assert.notEqual(m.error, undefined)
  })

  it('no head within responseTimeoutMs → 504, and the agent’s stream is reset TIMEOUT', async (t) => {
    const h = await proxyHarness(t, { responseTimeoutMs: 50 })
    const outcome = publicRequest(h.port)
    const agent = await h.agentSides.nth(0)
    const got = await outcome
    assert.equal(got.status, 504)
    assert.equal(got.headers['x-adit-error'], 'ADIT_ERR_AGENT_TIMEOUT')
    assert.equal(await agent.handler.resetSeen(), ResetCode.TIMEOUT)
  })

  it('the public client leaves mid-response: the agent’s stream is reset CANCEL', async (t) => {
    const h = await proxyHarness(t)
    const seen = responded()
    const outcome = publicRequest(h.port, { onResponse: seen.onResponse })
    const agent = await h.agentSides.nth(0)
    agent.stream.sendHead({ status: 200, headers: [] })
    agent.stream.write(Buffer.from('first bytes'))
    ;(await seen.response).destroy()
    assert.equal(await agent.handler.resetSeen(), ResetCode.CANCEL)
    assert.equal((await h.summaries.nth(0)).error, 'client went away')
    await outcome
  })
})
