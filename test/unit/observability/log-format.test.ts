import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatLogLine } from '../../../src/observability/pretty.js'
import { createLogger, wantsPretty } from '../../../src/observability/logger.js'
import { parseCloudTraceContext, parseTraceparent } from '../../../src/observability/tracing.js'
import { LabelCap } from '../../../src/observability/metrics.js'
import { parseListenAddress } from '../../../src/observability/metrics-http.js'
import { ErrorCode } from '../../../src/errors.js'

test('the terminal format is one readable line: time, severity, message, fields', () => {
  const line = JSON.stringify({
    severity: 'INFO',
    level: 'info',
    time: '2026-01-02T03:04:05.678Z',
    name: 'adit-server',
    message: 'proxied',
    status: 200,
    path: '/a b',
    httpRequest: { status: 200 },
  })
  assert.equal(formatLogLine(line), '03:04:05.678 INFO    proxied status=200 path="/a b"\n')
  assert.equal(formatLogLine('not json'), 'not json\n')
})

test('a pretty logger writes formatted lines; a JSON one JSON with Cloud Logging names', () => {
  const pretty: string[] = []
  createLogger({ destination: { write: (l: string) => pretty.push(l) }, format: 'pretty' }).warn({ tunnel: 'abc' }, 'hello')
  assert.match(pretty[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARNING hello tunnel=abc\n$/)
  const json: string[] = []
  createLogger({ destination: { write: (l: string) => json.push(l) } }).error('boom')
  const entry = JSON.parse(json[0]!) as Record<string, unknown>
  assert.equal(entry.severity, 'ERROR')
  assert.equal(entry.message, 'boom')
})

test('auto means JSON unless the fd is a terminal; ADIT_LOG_FORMAT overrides', () => {
  const saved = process.env.ADIT_LOG_FORMAT
  try {
    delete process.env.ADIT_LOG_FORMAT
    assert.equal(wantsPretty('auto', 1), process.stdout.isTTY === true)
    process.env.ADIT_LOG_FORMAT = 'pretty'
    assert.equal(wantsPretty('auto', 2), true)
    assert.equal(wantsPretty('json', 2), false)
  } finally {
    if (saved === undefined) delete process.env.ADIT_LOG_FORMAT
    else process.env.ADIT_LOG_FORMAT = saved
  }
})

test('traceparent parsing follows W3C trace context', () => {
  assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    sampled: true,
    generated: false,
  })
  for (const bad of [
    '',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
  ]) {
    assert.equal(parseTraceparent(bad), null, bad)
  }
  // A later version may append fields.
  assert.ok(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra'))
  assert.deepEqual(parseCloudTraceContext('105445AA7843BC8BF206B12000100000/18446744073709551615;o=0'), {
    traceId: '105445aa7843bc8bf206b12000100000',
    spanId: 'ffffffffffffffff',
    sampled: false,
    generated: false,
  })
  assert.equal(parseCloudTraceContext('nope/1;o=1'), null)
})

test('the tunnel label is capped: later tunnels count as other; ids nobody admitted count as unknown', () => {
  const cap = new LabelCap(2)
  assert.deepEqual(
    ['a', 'b', 'c', 'a', 'd'].map((t) => cap.admit(t)),
    ['a', 'b', 'other', 'a', 'other'],
  )
  assert.deepEqual(
    ['a', 'made-up', 'c'].map((t) => cap.label(t)),
    ['a', 'unknown', 'unknown'],
  )
})

test('metrics addresses are host:port', () => {
  assert.deepEqual(parseListenAddress('--metrics-addr', '127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 })
  assert.deepEqual(parseListenAddress('--metrics-addr', '[::1]:0'), { host: '::1', port: 0 })
  for (const bad of ['9464', 'host:', ':80', 'h:70000']) assert.throws(() => parseListenAddress('--metrics-addr', bad), { code: ErrorCode.CONFIG }, bad)
})
