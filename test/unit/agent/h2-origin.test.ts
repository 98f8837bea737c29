/**
 * H2Origin (`--local h2c://`) against a real node:http2 service on loopback:
 * the undici handler contract the forwarder relies on — head, body with
 * backpressure, trailers both ways, an abort that reaches the service as
 * RST_STREAM CANCEL, connection errors with their codes — and undici's
 * `request()` on top (the inspector's replay uses it).
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { constants, createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { H2Origin } from '../../../src/agent/h2-origin.js'

async function service(t: TestContext, onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<H2Origin> {
  const server = createServer()
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    onStream(stream, headers)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = new H2Origin({ url: new URL(`h2c://127.0.0.1:${(server.address() as AddressInfo).port}`) })
  t.after(async () => {
    await origin.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return origin
}

/** A classic undici handler that records what it is told. */
class Recorder implements Dispatcher.DispatchHandler {
  status = 0
  headers: string[] = []
  chunks: Buffer[] = []
  trailers: string[] | null | undefined
  error: (Error & { code?: string }) | undefined
  abort: ((err?: Error) => void) | undefined
  resume: (() => void) | undefined
  /** onData answers this (false: pause). */
  accept = true
  readonly done: Promise<void>
  private settle!: () => void
  requestTrailersGiven: Array<[string, string]> | null = null
  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve))
  }
  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    this.status = status
    this.headers = raw.map(String)
    this.resume = resume
    return true
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk))
    return this.accept
  }
  onComplete(trailers: string[] | null): void {
    this.trailers = trailers
    this.settle()
  }
  onError(error: Error): void {
    this.error = error
    this.settle()
  }
  requestTrailers(): Array<[string, string]> | null {
    return this.requestTrailersGiven
  }
}

test('a request with a body and trailers: the service gets both and the pseudo-headers; the handler gets head, body and trailers', async (t) => {
  let seen: { headers: IncomingHttpHeaders; body: string; trailers: IncomingHttpHeaders } | undefined
  const origin = await service(t, (stream, headers) => {
    let body = ''
    let trailers: IncomingHttpHeaders = {}
    stream.setEncoding('utf8')
    stream.on('data', (c: string) => (body += c))
    stream.on('trailers', (tr) => (trailers = tr))
    stream.on('end', () => {
      seen = { headers, body, trailers }
      stream.respond({ ':status': 201, 'x-a': 'b' }, { waitForTrailers: true })
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-t': '1' }))
      stream.end('reply')
    })
  })
  const handler = new Recorder()
  handler.requestTrailersGiven = [['x-sum', '9']]
  origin.dispatch(
    {
      method: 'POST',
      path: '/p?q=1',
      headers: ['host', 'svc.local', 'te', 'trailers', 'connection', 'x', 'x-m', '1', 'x-m', '2'],
      body: Readable.from([Buffer.from('he'), Buffer.from('llo')]),
    },
    handler,
  )
  await handler.done
  assert.equal(handler.error, undefined)
  assert.equal(handler.status, 201)
  assert.deepEqual(handler.headers.slice(0, 2), ['x-a', 'b'])
  assert.equal(Buffer.concat(handler.chunks).toString(), 'reply')
  assert.deepEqual(handler.trailers, ['grpc-status', '0', 'x-t', '1'])
  assert.equal(seen?.body, 'hello')
  assert.equal(seen?.headers[':authority'], 'svc.local')
  assert.equal(seen?.headers[':path'], '/p?q=1')
  assert.equal(seen?.headers['te'], 'trailers')
  assert.equal(seen?.headers['connection'], undefined)
  assert.equal(seen?.headers['x-m'], '1, 2')
  assert.equal(seen?.trailers['x-sum'], '9')
})

test('onData returning false pauses the HTTP/2 stream until resume (the service is held by its window, not buffered here)', async (t) => {
  const total = 8 * 1024 * 1024
  let written = 0
  const origin = await service(t, (stream) => {
    stream.respond({ ':status': 200 })
    const chunk = Buffer.alloc(64 * 1024, 1)
    const pump = (): void => {
      while (written < total) {
        written += chunk.length
        if (!stream.write(chunk)) return void stream.once('drain', pump)
      }
      stream.end()
    }
    pump()
  })
  const handler = new Recorder()
  handler.accept = false
  origin.dispatch({ method: 'GET', path: '/', headers: [] }, handler)
  await new Promise((resolve) => setTimeout(resolve, 300))
  // Paused after the first chunk: only the windows (1 MiB stream, 16 MiB connection) and socket buffers hold bytes.
  assert.ok(written < total, `the service wrote all ${written} bytes although the handler paused`)
  assert.equal(handler.chunks.length, 1)
  handler.accept = true
  handler.resume!()
  await handler.done
  assert.equal(Buffer.concat(handler.chunks).length, total)
})

test('abort resets the local stream with CANCEL (how a gRPC service sees a cancelled call)', async (t) => {
  let rstCode: number | undefined
  const closed = new Promise<void>((resolve) => {
    void service(t, (stream) => {
      stream.respond({ ':status': 200 })
      stream.write('first')
      stream.on('close', () => {
        rstCode = stream.rstCode
        resolve()
      })
    }).then((origin) => {
      const handler = new Recorder()
      handler.onData = (chunk: Buffer) => {
        handler.chunks.push(chunk)
        handler.abort!(new Error('public client went away'))
        return true
      }
      origin.dispatch({ method: 'GET', path: '/', headers: [] }, handler)
    })
  })
  await closed
  assert.equal(rstCode, constants.NGHTTP2_CANCEL)
})

test('a service that is not there: onError with ECONNREFUSED (the agent answers LOCAL_UNREACHABLE)', async () => {
  const origin = new H2Origin({ url: new URL('h2c://127.0.0.1:1') })
  const handler = new Recorder()
  origin.dispatch({ method: 'GET', path: '/', headers: [] }, handler)
  await handler.done
  assert.equal(handler.error?.code, 'ECONNREFUSED')
  await origin.destroy()
})

test("a stream the service resets before answering: onError (the agent resets the tunnel's stream)", async (t) => {
  const origin = await service(t, (stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM))
  const handler = new Recorder()
  origin.dispatch({ method: 'GET', path: '/', headers: [] }, handler)
  await handler.done
  assert.ok(handler.error !== undefined)
  assert.equal(handler.status, 0)
})

test("undici's request() works on it (the inspector's replay)", async (t) => {
  const origin = await service(t, (stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' })
    stream.end(`you asked ${String(headers[':path'])}`)
  })
  const res = await origin.request({ method: 'GET', path: '/again', headers: { 'x-r': '1' } })
  assert.equal(res.statusCode, 200)
  assert.equal(await res.body.text(), 'you asked /again')
})

test('an abort ends the request with onError (undici request() with a signal settles, as the doctor relies on)', async (t) => {
  const origin = await service(t, () => {}) // never answers
  const started = Date.now()
  await assert.rejects(origin.request({ method: 'GET', path: '/', signal: AbortSignal.timeout(200) }))
  assert.ok(Date.now() - started < 5000)
})

/** The handler's end, or a failure after `ms`: a timeout that never fires must fail the test, not hang it. */
async function settledWithin(handler: Recorder, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the request did not end within ${ms} ms`)), ms)))
  try {
    await Promise.race([handler.done, late])
  } finally {
    clearTimeout(timer)
  }
}

test('bodyTimeout (as undici honours it: the inspector replay, the doctor): a body that stalls ends with UND_ERR_BODY_TIMEOUT and a CANCEL at the service', async (t) => {
  let rstCode: number | undefined
  let closed!: () => void
  const streamClosed = new Promise<void>((resolve) => (closed = resolve))
  const origin = await service(t, (stream) => {
    stream.respond({ ':status': 200 })
    stream.write('first') // then nothing more
    stream.on('close', () => {
      rstCode = stream.rstCode
      closed()
    })
  })
  const handler = new Recorder()
  const started = Date.now()
  origin.dispatch({ method: 'GET', path: '/', headers: [], bodyTimeout: 300 }, handler)
  await settledWithin(handler, 5000)
  assert.equal(handler.status, 200)
  assert.equal(handler.error?.code, 'UND_ERR_BODY_TIMEOUT')
  assert.ok(Date.now() - started >= 250, 'not before the timeout')
  await streamClosed
  assert.equal(rstCode, constants.NGHTTP2_CANCEL)
})

test('bodyTimeout is the longest silence, not the whole body: chunks 100 ms apart for 800 ms pass a 300 ms bodyTimeout', async (t) => {
  const origin = await service(t, (stream) => {
    stream.respond({ ':status': 200 })
    let sent = 0
    const timer = setInterval(() => {
      if (stream.destroyed) return clearInterval(timer)
      if (++sent === 8) {
        clearInterval(timer)
        stream.end('last')
      } else stream.write('chunk')
    }, 100)
  })
  const handler = new Recorder()
  origin.dispatch({ method: 'GET', path: '/', headers: [], bodyTimeout: 300 }, handler)
  await settledWithin(handler, 5000)
  assert.equal(handler.error, undefined)
  assert.equal(Buffer.concat(handler.chunks).toString(), 'chunk'.repeat(7) + 'last')
})

test('bodyTimeout does not count time the handler held the stream paused (backpressure is not a silent service)', async (t) => {
  const origin = await service(t, (stream) => {
    stream.respond({ ':status': 200 })
    stream.end('all of it')
  })
  const handler = new Recorder()
  handler.accept = false
  origin.dispatch({ method: 'GET', path: '/', headers: [], bodyTimeout: 200 }, handler)
  await new Promise((resolve) => setTimeout(resolve, 600))
  assert.equal(handler.error, undefined, 'no timeout while paused')
  handler.accept = true
  handler.resume!()
  await settledWithin(handler, 5000)
  assert.equal(handler.error, undefined)
  assert.equal(Buffer.concat(handler.chunks).toString(), 'all of it')
})
