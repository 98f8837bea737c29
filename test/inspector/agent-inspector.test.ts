import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import type { ExchangeObserver } from '../../src/agent/exchange-observer.js'
import { combineObservers, parseInspectAddress, startAgentInspector } from '../../src/inspector/agent-inspector.js'
import { InspectorErrorCode } from '../../src/inspector/errors.js'
import { createLocalReplay } from '../../src/inspector/local-replay.js'
import { feedExchange } from './feed.js'
import { httpRequest, useInspectorToken } from './http-client.js'

test('parseInspectAddress takes a port, host:port or [v6]:port, loopback by default', () => {
  assert.deepEqual(parseInspectAddress('4040'), { host: '127.0.0.1', port: 4040 })
  assert.deepEqual(parseInspectAddress('127.0.0.2:0'), { host: '127.0.0.2', port: 0 })
  assert.deepEqual(parseInspectAddress('[::1]:4041'), { host: '::1', port: 4041 })
  for (const bad of ['', 'host:', ':80', '70000', 'a:b:c']) {
    assert.throws(
      () => parseInspectAddress(bad),
      (error: { code?: string }) => error.code === InspectorErrorCode.BAD_OPTION,
      bad,
    )
  }
})

test('combineObservers tells every observer, and passes a single one through untouched', () => {
  const calls: string[] = []
  const spy = (name: string): ExchangeObserver => ({
    onRequest: (s) => calls.push(`${name}:start:${s.id}`),
    onResponseBody: (id, chunk) => calls.push(`${name}:body:${id}:${chunk.length}`),
    onEnd: (e) => calls.push(`${name}:end:${e.id}`),
  })
  const only = spy('solo')
  assert.equal(combineObservers(undefined, only), only)
  assert.equal(combineObservers(undefined, undefined), undefined)
  const both = combineObservers(spy('a'), spy('b'))
  assert.ok(both)
  feedExchange(both, { id: 'x', responseBody: Buffer.from('abc') })
  assert.deepEqual(calls, ['a:start:x', 'b:start:x', 'a:body:x:3', 'b:body:x:3', 'a:end:x', 'b:end:x'])
})

test('local replay talks only to the local origin, rewrites Host and caps what it keeps', async (t) => {
  const seen: Array<{ method?: string; url?: string; host?: string; body: string }> = []
  const local = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, host: req.headers.host, body: Buffer.concat(chunks).toString() })
      res.end('x'.repeat(100))
    })
  })
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => local.close(() => resolve())))
  const origin = `http://127.0.0.1:${(local.address() as AddressInfo).port}`
  const replayer = createLocalReplay({ local: origin, maxBodyBytes: 10 })
  t.after(() => replayer.close())
  const result = await replayer.replay({
    method: 'POST',
    path: '/p?q=1',
    headers: [
      ['host', 'public.example'],
      ['x-a', '1'],
    ],
    body: Buffer.from('hi'),
  })
  assert.equal(result.status, 200)
  assert.equal(result.body.length, 10)
  assert.equal(result.bodyBytes, 100)
  assert.deepEqual(seen, [{ method: 'POST', url: '/p?q=1', host: new URL(origin).host, body: 'hi' }])
})

test('startAgentInspector serves the log and replays to the local service, recording the result', async (t) => {
  const local = createServer((req, res) => res.end(`again ${req.url}`))
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => local.close(() => resolve())))
  const inspection = await startAgentInspector({ address: '127.0.0.1:0', local: `http://127.0.0.1:${(local.address() as AddressInfo).port}` })
  t.after(() => inspection.close())
  useInspectorToken(inspection.inspector)
  inspection.setPublicUrl('https://t.example/pub/x/')
  feedExchange(inspection.log, { id: 'a', path: '/first' })
  const replay = await httpRequest(`${inspection.inspector.baseUrl}api/requests/1/replay`, { method: 'POST' })
  assert.equal(replay.status, 201)
  const detail = replay.json<{ id: string; replayOf: string; responseBody: { data: string } }>()
  assert.deepEqual([detail.id, detail.replayOf, detail.responseBody.data], ['2', '1', 'again /first'])
  const info = (await httpRequest(`${inspection.inspector.baseUrl}api/info`)).json<{ publicUrl: string; replay: boolean }>()
  assert.deepEqual([info.publicUrl, info.replay], ['https://t.example/pub/x/', true])
})
