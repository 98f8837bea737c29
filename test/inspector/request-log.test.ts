import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { InspectorErrorCode } from '../../src/inspector/errors.js'
import { RequestLog, type ExchangeSummary } from '../../src/inspector/request-log.js'
import { feedExchange } from './feed.js'

test('keeps only the last maxExchanges rows and says which left', () => {
  const log = new RequestLog({ maxExchanges: 3 })
  const removed: string[] = []
  log.on('removed', (id) => removed.push(id))
  for (let i = 1; i <= 5; i++) feedExchange(log, { id: `x${i}`, path: `/p${i}`, responseBody: Buffer.from(`body ${i}`) })
  assert.equal(log.size, 3)
  assert.deepEqual(removed, ['1', '2'])
  assert.deepEqual(
    log.list().map((r) => r.path),
    ['/p5', '/p4', '/p3'],
  )
  assert.equal(log.get('1'), undefined)
  // The evicted rows' bodies no longer count.
  assert.equal(log.retainedBodyBytes, 3 * 'body 3'.length)
})

test('emits added at the start and updated at the head and at the end, never per chunk', () => {
  const log = new RequestLog()
  const events: Array<[string, ExchangeSummary]> = []
  log.on('added', (row) => events.push(['added', row]))
  log.on('updated', (row) => events.push(['updated', row]))
  feedExchange(log, { id: 'a', method: 'POST', requestBody: Buffer.alloc(100_000, 1), responseBody: Buffer.alloc(100_000, 2), chunkSize: 1000, status: 201 })
  assert.deepEqual(
    events.map(([name, row]) => `${name}:${row.state}`),
    ['added:pending', 'updated:responding', 'updated:complete'],
  )
  const last = events[2]?.[1]
  assert.equal(last?.status, 201)
  assert.equal(last?.requestBytes, 100_000)
  assert.equal(last?.responseBytes, 100_000)
})

test('copies the chunks it keeps, since the agent reuses the buffers behind them', () => {
  const log = new RequestLog()
  const shared = Buffer.from('hello world')
  log.onRequest({ id: 'c', requestId: undefined, tunnelId: 't', method: 'POST', path: '/', headers: [], startedAt: 0 })
  log.onRequestBody('c', shared.subarray(0, 5))
  shared.fill(0x2a)
  log.onRequestBody('c', shared.subarray(5))
  assert.equal(log.get('1')?.request.bytes().toString(), 'hello******')
})

test('truncates a body at maxBodyBytes and records its full size', () => {
  const log = new RequestLog({ maxBodyBytes: 10, maxTotalBodyBytes: 100 })
  const body = Buffer.from('0123456789abcdef')
  feedExchange(log, { id: 't', responseBody: body, chunkSize: 6 })
  const record = log.get('1')
  assert.ok(record)
  assert.equal(record.response.size, 16)
  assert.equal(record.response.kept, 10)
  assert.equal(record.response.truncated, true)
  assert.equal(record.response.bytes().toString(), '0123456789')
  assert.equal(record.request.truncated, false)
  assert.equal(log.retainedBodyBytes, 10)
})

test('marks a body truncated when the agent counted more bytes than it handed over', () => {
  const log = new RequestLog()
  log.onRequest({ id: 'e', requestId: undefined, tunnelId: 't', method: 'GET', path: '/', headers: [], startedAt: 0 })
  log.onResponse('e', 200, [])
  log.onResponseBody('e', Buffer.from('abc'))
  log.onEnd({ id: 'e', status: 200, responseHeaders: [], requestBytes: 0, responseBytes: 9, durationMs: 1 })
  const record = log.get('1')
  assert.equal(record?.response.size, 9)
  assert.equal(record?.response.truncated, true)
})

test('drops the oldest bodies first to stay within maxTotalBodyBytes, keeping their rows', () => {
  const log = new RequestLog({ maxBodyBytes: 10, maxTotalBodyBytes: 25 })
  feedExchange(log, { id: 'a', responseBody: Buffer.alloc(10, 0x61) })
  feedExchange(log, { id: 'b', responseBody: Buffer.alloc(10, 0x62) })
  assert.equal(log.retainedBodyBytes, 20)
  feedExchange(log, { id: 'c', responseBody: Buffer.alloc(10, 0x63) })
  assert.equal(log.retainedBodyBytes, 20)
  assert.equal(log.size, 3)
  assert.equal(log.get('1')?.response.evicted, true)
  assert.equal(log.get('1')?.response.kept, 0)
  assert.equal(log.get('2')?.response.bytes().toString(), 'b'.repeat(10))
  assert.equal(log.get('3')?.response.bytes().toString(), 'c'.repeat(10))
})

test('never exceeds the total budget even when one exchange alone fills it', () => {
  const log = new RequestLog({ maxBodyBytes: 10, maxTotalBodyBytes: 15 })
  feedExchange(log, { id: 'a', method: 'POST', requestBody: Buffer.alloc(10, 1), responseBody: Buffer.alloc(10, 2) })
  assert.equal(log.retainedBodyBytes, 15)
  const record = log.get('1')
  assert.equal(record?.request.kept, 10)
  assert.equal(record?.response.kept, 5)
  assert.equal(record?.response.truncated, true)
})

test('ignores callbacks for ids it does not hold (never started, or evicted while in flight)', () => {
  const log = new RequestLog({ maxExchanges: 1 })
  feedExchange(log, { id: 'first', inFlight: true })
  feedExchange(log, { id: 'second' })
  log.onRequestBody('first', Buffer.from('late'))
  log.onResponse('first', 200, [])
  log.onEnd({ id: 'first', status: 200, responseHeaders: [], requestBytes: 4, responseBytes: 0, durationMs: 1 })
  log.onResponseBody('nobody', Buffer.from('x'))
  assert.equal(log.size, 1)
  assert.equal(log.list()[0]?.exchangeId, 'second')
  assert.equal(log.retainedBodyBytes, 0)
})

test('marks failed exchanges and keeps the error', () => {
  const log = new RequestLog()
  feedExchange(log, { id: 'f', status: 502, error: 'local unreachable' })
  const record = log.get('1')
  assert.equal(record?.state, 'failed')
  assert.equal(record?.error, 'local unreachable')
})

test('filters by status class, exact status, method, path text and state; newest first', () => {
  const log = new RequestLog()
  feedExchange(log, { id: '1', method: 'GET', path: '/users', status: 200 })
  feedExchange(log, { id: '2', method: 'POST', path: '/users', status: 201 })
  feedExchange(log, { id: '3', method: 'GET', path: '/missing', status: 404 })
  feedExchange(log, { id: '4', method: 'GET', path: '/Boom', status: 500 })
  feedExchange(log, { id: '5', method: 'PUT', path: '/slow', inFlight: true })
  const paths = (filter: Parameters<RequestLog['list']>[0]): string[] => log.list(filter).map((r) => `${r.method} ${r.path}`)
  assert.deepEqual(paths({ status: '2xx' }), ['POST /users', 'GET /users'])
  assert.deepEqual(paths({ status: '404' }), ['GET /missing'])
  assert.deepEqual(paths({ status: 'error' }), ['GET /Boom'])
  assert.deepEqual(paths({ status: 'pending' }), ['PUT /slow'])
  assert.deepEqual(paths({ method: 'get' }), ['GET /Boom', 'GET /missing', 'GET /users'])
  assert.deepEqual(paths({ q: 'boo' }), ['GET /Boom'])
  assert.deepEqual(paths({ method: 'GET', q: 'user' }), ['GET /users'])
  assert.deepEqual(paths({ status: 'nonsense' }), [])
  assert.deepEqual(paths({ limit: 2 }), ['PUT /slow', 'GET /Boom'])
})

test('record() adds a whole exchange through the same caps and marks it as a replay', () => {
  const log = new RequestLog({ maxBodyBytes: 4, maxTotalBodyBytes: 64 })
  feedExchange(log, { id: 'orig' })
  const added: ExchangeSummary[] = []
  log.on('added', (row) => added.push(row))
  const record = log.record(
    {
      method: 'POST',
      path: '/again',
      requestHeaders: [],
      requestBody: Buffer.from('abcdef'),
      status: 200,
      responseHeaders: [],
      responseBody: Buffer.from('ok'),
      durationMs: 7,
    },
    '1',
  )
  assert.equal(record.id, '2')
  assert.equal(record.replayOf, '1')
  assert.equal(record.state, 'complete')
  assert.equal(record.request.truncated, true)
  assert.equal(record.request.size, 6)
  assert.equal(record.durationMs, 7)
  assert.equal(added.length, 1)
})

test('clear() forgets every row and every kept byte', () => {
  const log = new RequestLog()
  for (let i = 0; i < 5; i++) feedExchange(log, { id: `c${i}`, responseBody: Buffer.alloc(100) })
  log.clear()
  assert.equal(log.size, 0)
  assert.equal(log.retainedBodyBytes, 0)
})

test('rejects bad options, naming them, with a stable code', () => {
  for (const bad of [{ maxExchanges: 0 }, { maxBodyBytes: -1 }, { maxTotalBodyBytes: 1.5 }, { maxBodyBytes: 10, maxTotalBodyBytes: 5 }]) {
    assert.throws(
      () => new RequestLog(bad),
      (error: { code?: string; message?: string }) => {
        assert.equal(error.code, InspectorErrorCode.BAD_OPTION)
        assert.match(error.message ?? '', new RegExp(Object.keys(bad)[0] as string))
        return true
      },
    )
  }
})

test('memory stays bounded: 10,000 exchanges with 100 KiB bodies', async (t) => {
  // Expose gc() for a fair before/after reading without needing a runner flag.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const maxTotalBodyBytes = 16 * 1024 * 1024
  const log = new RequestLog({ maxExchanges: 500, maxTotalBodyBytes, maxBodyBytes: 1024 * 1024 })
  const body = Buffer.alloc(100 * 1024, 0x78)
  gc()
  const before = process.memoryUsage()
  let highestRetained = 0
  const started = performance.now()
  for (let i = 0; i < 10_000; i++) {
    feedExchange(log, { id: `load-${i}`, method: 'POST', path: `/upload/${i}`, requestBody: body, responseBody: body, chunkSize: 16 * 1024 })
    if (log.retainedBodyBytes > highestRetained) highestRetained = log.retainedBodyBytes
    assert.ok(log.retainedBodyBytes <= maxTotalBodyBytes, `retained ${log.retainedBodyBytes} bytes after exchange ${i}`)
  }
  const elapsedMs = performance.now() - started
  // Array buffer backing stores are freed by a concurrent sweeper after a full
  // GC, so one gc() can read high; settle over a few rounds (a real leak stays).
  let after = process.memoryUsage()
  for (let round = 0; round < 10; round++) {
    gc()
    await new Promise<void>((resolve) => setImmediate(resolve))
    after = process.memoryUsage()
    if (after.arrayBuffers - before.arrayBuffers <= maxTotalBodyBytes + 4 * 1024 * 1024) break
  }
  const heapGrowth = after.heapUsed - before.heapUsed
  const bufferGrowth = after.arrayBuffers - before.arrayBuffers
  t.diagnostic(
    `10,000 exchanges x 2 x 100 KiB in ${elapsedMs.toFixed(0)} ms; retained body bytes peak ${highestRetained} (cap ${maxTotalBodyBytes}); heapUsed growth ${(heapGrowth / 1048576).toFixed(2)} MiB; arrayBuffers growth ${(bufferGrowth / 1048576).toFixed(2)} MiB`,
  )
  assert.equal(log.size, 500)
  assert.ok(highestRetained > maxTotalBodyBytes - 200 * 1024, 'the budget is actually used, not just avoided')
  // What is held outside the JS heap is the kept bodies and nothing more (slack for the allocator).
  assert.ok(bufferGrowth <= maxTotalBodyBytes + 4 * 1024 * 1024, `array buffers grew ${bufferGrowth} bytes`)
  // 500 rows of metadata; a leak of a row or a buffer per exchange would show as many MiB here.
  assert.ok(heapGrowth < 8 * 1024 * 1024, `heap grew ${heapGrowth} bytes`)
})

test('with no browser watching, the live list costs a request nothing: the event stream listens only while a client is attached', async () => {
  const { EventStream } = await import('../../src/inspector/event-stream.js')
  const { PassThrough } = await import('node:stream')
  const log = new RequestLog()
  const stream = new EventStream(log, { heartbeatMs: 60_000, maxBufferedBytes: 1 << 20 })
  try {
    // Before: the stream listened from construction, so every request was summarized and turned into JSON for nobody.
    assert.equal(log.listenerCount('added') + log.listenerCount('updated') + log.listenerCount('removed'), 0)
    // A stand-in for the /api/events response: writeHead, write, and 'close'.
    const sink = new PassThrough()
    let written = ''
    const res = Object.assign(sink, { writeHead: () => res }) as unknown as import('node:http').ServerResponse
    sink.on('data', (chunk: Buffer) => (written += chunk.toString()))
    stream.attach(res)
    assert.equal(log.listenerCount('added'), 1)
    feedExchange(log, { id: 'w', path: '/watched' })
    await new Promise((resolve) => setImmediate(resolve))
    assert.match(written, /event: added\ndata: .*\/watched/)
    res.emit('close')
    assert.equal(log.listenerCount('added') + log.listenerCount('updated') + log.listenerCount('removed'), 0)
  } finally {
    stream.close()
  }
})
