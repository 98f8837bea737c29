/**
 * The middle of the request path without processes: a real node:http server
 * on 127.0.0.1 port 0 whose requests become ProxyExchanges over an in-memory
 * session pair (test/unit/protocol/memory-transport.ts), with the agent's end
 * of each stream in the test's hands. Frames cross on a 1 ms pump, so the
 * public socket, the exchange and the agent interleave as they do for real.
 */
import type { TestContext } from 'node:test'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { RequestHead, Stream } from '../../../src/protocol/index.js'
import { ProxyExchange } from '../../../src/server/proxy-exchange.js'
import type { ExchangeSummary } from '../../../src/exchange/summary.js'
import { RecordingHandler, sessionPair, type SessionPair } from '../protocol/memory-transport.js'

/** Things that arrive one by one; `nth(i)` waits for the i-th. */
export class Arrivals<T> {
  readonly items: T[] = []
  private readonly waiters: Array<{ index: number; resolve: (item: T) => void }> = []
  push(item: T): void {
    this.items.push(item)
    for (const w of [...this.waiters]) {
      if (w.index < this.items.length) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(this.items[w.index]!)
      }
    }
  }
  nth(index: number): Promise<T> {
    if (index < this.items.length) return Promise.resolve(this.items[index]!)
    return new Promise((resolve) => this.waiters.push({ index, resolve }))
  }
}

/**
 * The agent's end of a stream: records like RecordingHandler and returns
 * credit — at once, or (`holdCredit`) only when `releaseCredit` runs, as a
 * slow local service would.
 */
export class AgentHandler extends RecordingHandler {
  holdCredit = false
  private owed = 0
  private readonly endWaiters: Array<() => void> = []
  private readonly drainWaiters: Array<() => void> = []
  private readonly resetWaiters: Array<() => void> = []
  constructor(readonly stream: Stream) {
    super()
  }
  override onData(chunk: Buffer): void {
    super.onData(chunk)
    if (this.holdCredit) this.owed += chunk.length
    else this.stream.consumed(chunk.length)
  }
  /** While set, `releaseCredit` returns nothing: a destination that stopped reading. */
  frozen = false
  releaseCredit(): void {
    if (this.frozen) return
    const n = this.owed
    this.owed = 0
    if (n > 0) this.stream.consumed(n)
  }
  override onEnd(): void {
    super.onEnd()
    for (const w of this.endWaiters.splice(0)) w()
  }
  override onReset(code: number, reason: string): void {
    super.onReset(code, reason)
    for (const w of this.endWaiters.splice(0)) w()
    for (const w of this.drainWaiters.splice(0)) w()
    for (const w of this.resetWaiters.splice(0)) w()
  }
  override onDrain(): void {
    super.onDrain()
    for (const w of this.drainWaiters.splice(0)) w()
  }
  /** Resolves with the reset code once the stream is reset. */
  resetSeen(): Promise<number> {
    if (this.resetCode !== undefined) return Promise.resolve(this.resetCode)
    return new Promise((resolve) => this.resetWaiters.push(() => resolve(this.resetCode!)))
  }
  /** Resolves once the request body ended (or the stream was reset). */
  requestDone(): Promise<void> {
    if (this.ended || this.resetCode !== undefined) return Promise.resolve()
    return new Promise((resolve) => this.endWaiters.push(resolve))
  }
  /** Writes `body` in `cuts` pieces, waiting for onDrain whenever write says so; `last`: the final piece goes as writeLast (END folded). */
  async writeBody(pieces: Buffer[], last: boolean): Promise<void> {
    for (let i = 0; i < pieces.length; i++) {
      if (this.resetCode !== undefined) return
      if (i === pieces.length - 1 && last) {
        this.stream.writeLast(pieces[i]!)
        return
      }
      if (!this.stream.write(pieces[i]!)) await new Promise<void>((resolve) => this.drainWaiters.push(resolve))
    }
    this.stream.end()
  }
}

export interface AgentSide {
  stream: Stream
  head: RequestHead
  handler: AgentHandler
}

export interface ProxyHarness {
  port: number
  pair: SessionPair
  agentSides: Arrivals<AgentSide>
  summaries: Arrivals<ExchangeSummary>
  exchanges: Array<{ exchange: ProxyExchange; res: ServerResponse }>
  /** What a reset-before-head retry does (default: open a new stream on the same session). */
  redispatch: (exchange: ProxyExchange) => void
  redispatched: number
}

export async function proxyHarness(t: TestContext, options: { responseTimeoutMs?: number; holdCredit?: boolean } = {}): Promise<ProxyHarness> {
  const agentSides = new Arrivals<AgentSide>()
  const pair = sessionPair(
    {
      endFlag: true,
      trailers: true,
      onStream(stream, head) {
        const handler = new AgentHandler(stream)
        handler.holdCredit = options.holdCredit === true
        agentSides.push({ stream, head, handler })
        return handler
      },
    },
    { endFlag: true, trailers: true },
  )
  const pump = setInterval(() => {
    for (const side of agentSides.items) side.handler.releaseCredit()
    pair.pump()
  }, 1)
  let requests = 0
  const harness: ProxyHarness = {
    port: 0,
    pair,
    agentSides,
    summaries: new Arrivals<ExchangeSummary>(),
    exchanges: [],
    redispatched: 0,
    redispatch: (exchange) => {
      harness.redispatched++
      exchange.attach(pair.server.openStream(exchange.head, exchange)!)
    },
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/'
    const requestId = `req${++requests}`
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0'
    const head: RequestHead = { method: req.method ?? 'GET', path, headers: [], requestId, ...(hasBody ? {} : { bodyless: true }) }
    const exchange = new ProxyExchange(
      req,
      res,
      { requestId, tunnelId: 't', path, prefix: '/pub/t', head, responseTimeoutMs: options.responseTimeoutMs ?? 10_000 },
      { onDone: (summary) => harness.summaries.push(summary), redispatch: (e) => harness.redispatch(e) },
    )
    harness.exchanges.push({ exchange, res })
    exchange.attach(pair.server.openStream(head, exchange)!)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  harness.port = (server.address() as AddressInfo).port
  t.after(async () => {
    clearInterval(pump)
    pair.server.close()
    pair.agent.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return harness
}

export interface ClientOutcome {
  status: number
  headers: IncomingMessage['headers']
  body: Buffer
  /** The response did not complete (aborted, reset): its error code or 'aborted'. */
  error: string | undefined
}

/**
 * One public request (no keep-alive): `pieces` are written one by one with a
 * turn of the event loop between some, as a client's packets would come.
 */
export function publicRequest(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; pieces?: Buffer[]; onResponse?: (res: IncomingMessage) => void } = {},
): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers, agent: false })
    let settled = false
    const settle = (outcome: ClientOutcome): void => {
      if (!settled) resolve(outcome)
      settled = true
    }
    let response: IncomingMessage | undefined
    const chunks: Buffer[] = []
    req.on('response', (res) => {
      response = res
      options.onResponse?.(res)
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => settle({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error: undefined }))
      res.on('aborted', () => settle({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error: 'aborted' }))
      res.on('error', (e: NodeJS.ErrnoException) =>
        settle({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error: e.code ?? 'error' }),
      )
    })
    req.on('error', (e: NodeJS.ErrnoException) =>
      settle({ status: response?.statusCode ?? 0, headers: response?.headers ?? {}, body: Buffer.concat(chunks), error: e.code ?? 'error' }),
    )
    void (async () => {
      const pieces = options.pieces ?? []
      for (let i = 0; i < pieces.length; i++) {
        if (!req.write(pieces[i]!)) await new Promise((r) => req.once('drain', r))
        else if (i % 3 === 1) await new Promise((r) => setImmediate(r))
      }
      req.end()
    })()
  })
}

/** `length` bytes of a pattern that a shifted or dropped piece would break. */
export function patterned(length: number, seed = 0): Buffer {
  const buf = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) buf[i] = (i * 131 + seed + (i >>> 8)) & 0xff
  return buf
}

/** `body` cut at the (sorted, deduplicated) offsets: the chaotic chunking of the codec tests. */
export function cut(body: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (body.length + 1)))].sort((a, b) => a - b)
  const pieces: Buffer[] = []
  let from = 0
  for (const p of points) {
    if (p > from) pieces.push(body.subarray(from, p))
    from = Math.max(from, p)
  }
  if (from < body.length || pieces.length === 0) pieces.push(body.subarray(from))
  return pieces
}
