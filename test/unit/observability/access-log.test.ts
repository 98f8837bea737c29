import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { accessLogLine, isoNow, subscribeAccessLog } from '../../../src/observability/access-log.js'
import { ChannelName, type ServerExchangeMessage } from '../../../src/observability/channels.js'
import { createLogger, redactUrl } from '../../../src/observability/logger.js'
import diagnostics_channel from 'node:diagnostics_channel'

/**
 * The access line's fields as a plain object, in the order Cloud Logging's
 * reader and our users' queries expect them: the oracle the hand-built line
 * is held to, written through pino itself.
 */
function expectedFields(message: ServerExchangeMessage, project: string | undefined): Record<string, unknown> {
  const { summary, request } = message
  const fields: Record<string, unknown> = {
    requestId: summary.requestId,
    tunnel: summary.tunnelId,
    method: summary.method,
    path: redactUrl(summary.path),
    status: summary.status,
    requestBytes: summary.requestBytes,
    responseBytes: summary.responseBytes,
    latencyMs: Math.round(summary.durationMs * 10) / 10,
    ...(summary.retries > 0 ? { retries: summary.retries } : {}),
    ...(summary.error ? { error: summary.error } : {}),
    ...(summary.route !== undefined ? { route: summary.route } : {}),
    ...(summary.answeredBy !== undefined ? { answeredBy: summary.answeredBy } : {}),
    httpRequest: {
      requestMethod: summary.method,
      requestUrl: redactUrl(request.url),
      status: summary.status,
      requestSize: String(summary.requestBytes),
      responseSize: String(summary.responseBytes),
      latency: `${(summary.durationMs / 1000).toFixed(3)}s`,
      remoteIp: request.remoteIp,
      ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
      protocol: request.protocol,
    },
  }
  if (request.traceId !== undefined) {
    fields.traceId = request.traceId
    if (project !== undefined) fields['logging.googleapis.com/trace'] = `projects/${project}/traces/${request.traceId}`
    if (request.spanId !== undefined) fields['logging.googleapis.com/spanId'] = request.spanId
    fields['logging.googleapis.com/trace_sampled'] = request.traceSampled
  }
  return fields
}

const text = fc.string({ unit: 'binary', maxLength: 40 })
const exchange = fc.record({
  summary: fc.record({
    requestId: text,
    tunnelId: text,
    method: text,
    path: fc.oneof(text, fc.constant('/a?secret=s3cr3t&b=1')),
    status: fc.integer({ min: 100, max: 599 }),
    requestBytes: fc.nat(),
    responseBytes: fc.nat(),
    durationMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    retries: fc.nat({ max: 3 }),
    error: fc.option(text, { nil: undefined }),
    route: fc.option(text, { nil: undefined }),
    answeredBy: fc.option(text, { nil: undefined }),
  }),
  request: fc.record({
    url: fc.oneof(text, fc.constant('http://t.example/x?token=abc')),
    remoteIp: text,
    userAgent: fc.option(text, { nil: undefined }),
    protocol: text,
    traceId: fc.option(text, { nil: undefined }),
    spanId: fc.option(text, { nil: undefined }),
    traceSampled: fc.boolean(),
  }),
  project: fc.option(text, { nil: undefined }),
})

test('the hand-built access line is byte for byte what pino writes for the same fields', () => {
  const lines: string[] = []
  const logger = createLogger({ name: 'adit-server', destination: { write: (l: string) => lines.push(l) }, format: 'json' })
  const time = '2026-12-06T12:00:00.000Z'
  fc.assert(
    fc.property(exchange, ({ summary, request, project }) => {
      const message = { origin: {}, summary: summary as ServerExchangeMessage['summary'], request }
      lines.length = 0
      logger.info(expectedFields(message, project), 'proxied')
      const fromPino = lines[0]!.replace(/"time":"[^"]*"/, `"time":"${time}"`)
      assert.equal(accessLogLine(message, project, ',"name":"adit-server"', time), fromPino)
    }),
    { numRuns: 500 },
  )
})

test('the access log writes to the logger destination only at info, with its bindings', () => {
  const origin = {}
  const lines: string[] = []
  const logger = createLogger({ name: 'adit-server', destination: { write: (l: string) => lines.push(l) }, format: 'json' })
  const unsubscribe = subscribeAccessLog(origin, logger, 'proj')
  const message = {
    origin,
    summary: {
      requestId: 'r1',
      tunnelId: 't1',
      method: 'GET',
      path: '/p?secret=x',
      status: 200,
      requestBytes: 0,
      responseBytes: 5,
      durationMs: 12.34,
      retries: 0,
    },
    request: {
      url: 'http://t1.example/p?secret=x',
      remoteIp: '127.0.0.1',
      userAgent: 'ua',
      protocol: 'HTTP/1.1',
      traceId: 'abc',
      spanId: 'def',
      traceSampled: true,
    },
  }
  try {
    diagnostics_channel.channel(ChannelName.SERVER_EXCHANGE).publish(message)
    diagnostics_channel.channel(ChannelName.SERVER_EXCHANGE).publish({ ...message, origin: {} })
    logger.level = 'warn'
    diagnostics_channel.channel(ChannelName.SERVER_EXCHANGE).publish(message)
  } finally {
    unsubscribe()
  }
  assert.equal(lines.length, 1, 'one line: the other origin is not ours, and warn is above info')
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>
  assert.equal(entry.name, 'adit-server')
  assert.equal(entry.message, 'proxied')
  assert.equal(entry.path, '/p?secret=[redacted]')
  assert.equal(entry['logging.googleapis.com/trace'], 'projects/proj/traces/abc')
  assert.equal((entry.httpRequest as Record<string, unknown>).latency, '0.012s')
})

test('the access line clock is toISOString, to the millisecond', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.nat({ max: 2500 }), (t, step) => {
      assert.equal(isoNow(t), new Date(t).toISOString())
      assert.equal(isoNow(t + step), new Date(t + step).toISOString(), 'the cached second is left when time moves on')
    }),
  )
})
