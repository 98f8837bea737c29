import assert from 'node:assert/strict'
import { test } from 'node:test'
import { StatusBoard } from '../../../src/cli/status-board.js'
import { fit, formatBytes, formatStatusChange, redrawPrefix, renderStatusTable, renderTransfers, type TunnelStatusRow } from '../../../src/cli/status-render.js'

const web: TunnelStatusRow = {
  label: 'web',
  local: 'http://127.0.0.1:3000',
  publicUrl: 'https://t.example/pub/web/',
  state: 'online',
  requests: 12,
  lastError: undefined,
}
const api: TunnelStatusRow = {
  label: 'api',
  local: 'http://127.0.0.1:4000',
  publicUrl: undefined,
  state: 'reconnecting',
  requests: 3,
  lastError: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4000',
}

test('the table: a heading and one aligned row per tunnel', () => {
  const lines = renderStatusTable([web, api], 120)
  assert.deepEqual(lines, [
    'TUNNEL  PUBLIC URL                  STATE         REQUESTS  LAST ERROR',
    'web     https://t.example/pub/web/  online              12',
    'api     —                           reconnecting         3  ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4000',
  ])
})

test('the table never overflows the terminal: the error, then the URL, give way', () => {
  for (const width of [40, 60, 80]) {
    const lines = renderStatusTable([web, api], width)
    for (const line of lines) assert.ok([...line].length <= width, `${JSON.stringify(line)} fits ${width}`)
  }
  const narrow = renderStatusTable([api], 60)
  assert.match(narrow[1]!, /…$/)
  // Control characters from an error message never reach the terminal.
  const nasty = renderStatusTable([{ ...api, lastError: 'a\x1b[2Jb\nc' }], 200)
  assert.equal(nasty[1]!.includes('\x1b'), false)
  assert.equal(nasty[1]!.includes('\n'), false)
})

test('fit cuts with an ellipsis and leaves short text alone', () => {
  assert.equal(fit('abcdef', 4), 'abc…')
  assert.equal(fit('abc', 4), 'abc')
  assert.equal(fit('abc', 0), '')
})

test('piped lines: the classic single-tunnel lines, and the tunnel named when there are several', () => {
  assert.equal(formatStatusChange(web, { kind: 'state' }, false), 'adit: forwarding https://t.example/pub/web/ → http://127.0.0.1:3000')
  assert.equal(formatStatusChange(web, { kind: 'state' }, true), 'adit: forwarding https://t.example/pub/web/ → http://127.0.0.1:3000 (web)')
  assert.equal(
    formatStatusChange(api, { kind: 'state' }, true),
    'adit: connection lost (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4000); reconnecting (api)',
  )
  assert.equal(
    formatStatusChange({ ...api, state: 'error', lastError: 'registration refused with 401' }, { kind: 'state' }, false),
    'adit: error: registration refused with 401',
  )
  assert.equal(
    formatStatusChange({ ...web, state: 'connecting' }, { kind: 'state', server: 'http://s' }, false),
    'adit: connecting to http://s for http://127.0.0.1:3000',
  )
  const request = { kind: 'request', method: 'GET', path: '/a?b', status: 200, responseBytes: 5, durationMs: 3 } as const
  assert.equal(formatStatusChange(web, request, false), 'GET /a?b → 200 5 B 3 ms')
  assert.equal(formatStatusChange(web, { ...request, status: 0, error: 'local unreachable' }, true), '[web] GET /a?b → error 5 B 3 ms (local unreachable)')
  assert.equal(
    formatStatusChange(web, { kind: 'url', reregistered: true }, false),
    'adit: the server issued a new tunnel; now forwarding https://t.example/pub/web/ → http://127.0.0.1:3000',
  )
})

test('redrawPrefix moves up over the last drawing and clears it', () => {
  assert.equal(redrawPrefix(0), '')
  assert.equal(redrawPrefix(4), '\x1b[4F\x1b[J')
})

test('board, piped: one line per change, none for repeats', () => {
  const out: string[] = []
  const board = new StatusBoard({ write: (t: string) => out.push(t), isTTY: false })
  const row = board.add({ label: 'http://127.0.0.1:3000', local: 'http://127.0.0.1:3000', state: 'connecting' })
  row.setPublicUrl('https://t.example/pub/x/', false)
  row.setLabel('x')
  row.setState('online')
  row.setState('online')
  row.request({ method: 'GET', path: '/', status: 204, responseBytes: 0, durationMs: 1 })
  row.setState('reconnecting', { error: 'socket hang up' })
  board.close()
  assert.deepEqual(out, [
    'adit: forwarding https://t.example/pub/x/ → http://127.0.0.1:3000\n',
    'GET / → 204 0 B 1 ms\n',
    'adit: connection lost (socket hang up); reconnecting\n',
  ])
  assert.equal(row.row.requests, 1)
})

test('board, TTY: redraws in place, at most once per interval however many changes', async (t) => {
  const out: string[] = []
  const board = new StatusBoard(
    { write: (text: string) => out.push(text), isTTY: true, columns: 100 },
    { minRedrawMs: 40, header: () => ['adit agent'], recentRequests: 0, colour: false },
  )
  t.after(() => board.close())
  const row = board.add({ label: 'web', local: 'http://127.0.0.1:3000', state: 'connecting' })
  for (let i = 0; i < 1000; i++) row.request({ method: 'GET', path: '/', status: 200, responseBytes: 1, durationMs: 1 })
  await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(out.length, 1, 'a burst of 1000 changes is one drawing')
  assert.equal(out[0], `${['adit agent', ...renderStatusTable([row.row], 100)].join('\n')}\n`)
  row.setState('online')
  board.close()
  assert.equal(out.length, 2)
  assert.ok(out[1]!.startsWith('\x1b[3F\x1b[J'), 'the second drawing replaces the three lines of the first')
  assert.match(out[1]!, /online +1000/)
})

test('colour: only on a TTY, never with NO_COLOR or TERM=dumb; FORCE_COLOR wins', async () => {
  const { useColour } = await import('../../../src/cli/status-render.js')
  assert.equal(useColour({ isTTY: true }, {}), true)
  assert.equal(useColour({ isTTY: false }, {}), false)
  assert.equal(useColour({ isTTY: true }, { NO_COLOR: '1' }), false)
  assert.equal(useColour({ isTTY: true }, { TERM: 'dumb' }), false)
  assert.equal(useColour({ isTTY: false }, { FORCE_COLOR: '1' }), true)
})

test('the coloured table has the same text and widths once the escape codes are taken out', () => {
  const plain = renderStatusTable([web, api], 120)
  const coloured = renderStatusTable([web, api], 120, true)
  assert.notDeepEqual(coloured, plain)
  assert.ok(coloured[1]!.includes('\x1b[32monline\x1b[39m'))
  assert.deepEqual(
    coloured.map((l) => l.replace(/\x1b\[\d+m/g, '')),
    plain,
  )
})

test('the TTY view lists the last few requests (method, path, status, ms) under the table; piped output does not', async () => {
  const { renderRecentRequests } = await import('../../../src/cli/status-render.js')
  assert.deepEqual(renderRecentRequests([], 80), [])
  const lines = renderRecentRequests([{ label: 'web', method: 'GET', path: '/a?x=1', status: 200, durationMs: 12 }], 40)
  assert.equal(lines[1], 'RECENT REQUESTS')
  assert.match(lines[2]!, /^GET {4}\/a\?x=1 +200 {2}12 ms$/)
  assert.ok(lines.every((l) => [...l].length <= 40))
  const written: string[] = []
  const board = new StatusBoard({ write: (t: string) => written.push(t), isTTY: true, columns: 80 }, { minRedrawMs: 0, colour: false, recentRequests: 2 })
  const row = board.add({ label: 'web', local: 'http://127.0.0.1:3000', state: 'online' })
  for (const [i, path] of ['/one', '/two', '/three'].entries()) row.request({ method: 'GET', path, status: 200 + i, responseBytes: 1, durationMs: i })
  const view = board.lines().join('\n')
  assert.match(view, /RECENT REQUESTS\nGET +\/two +201 {2}1 ms\nGET +\/three +202 {2}2 ms$/)
  assert.ok(!view.includes('/one'), 'only the last two')
  board.close()
})

test('a transfer in progress: bytes each way that moved, the percentage when the length is known, rate and time; never wider than the terminal', () => {
  const MiB = 1024 * 1024
  const lines = renderTransfers(
    [
      { label: 'web', method: 'GET', path: '/big.iso', elapsedMs: 2000, requestBytes: 0, responseBytes: 25 * MiB, responseLength: 100 * MiB },
      { label: 'web', method: 'PUT', path: '/upload', elapsedMs: 4000, requestBytes: 8 * MiB, responseBytes: 0 },
    ],
    100,
  )
  assert.deepEqual(lines, [
    '',
    'IN PROGRESS',
    `GET    /big.iso${' '.repeat(34)}  ↓ 25.0 MiB of 100.0 MiB (25 %)  12.5 MiB/s  2.0 s`,
    `PUT    /upload${' '.repeat(57)}  ↑ 8.0 MiB  2.0 MiB/s  4.0 s`,
  ])
  for (const width of [40, 60])
    for (const line of renderTransfers([{ label: 'web', method: 'GET', path: '/x'.repeat(50), elapsedMs: 1500, requestBytes: 1, responseBytes: 1 }], width))
      assert.ok([...line].length <= width, `${line} fits ${width}`)
  assert.deepEqual(renderTransfers([]), [])
  assert.equal(formatBytes(1023), '1023 B')
  assert.equal(formatBytes(1536), '1.5 KiB')
})

test('board, TTY: a request in flight past progressAfterMs shows its progress and is redrawn while it runs; gone once it ends; piped: no observer', async (t) => {
  const written: string[] = []
  const board = new StatusBoard(
    { write: (text: string) => written.push(text), isTTY: true, columns: 120 },
    { minRedrawMs: 0, colour: false, recentRequests: 0, progressAfterMs: 50 },
  )
  t.after(() => board.close())
  board.add({ label: 'web', local: 'http://127.0.0.1:3000', state: 'online' })
  const observer = board.transferObserver('web', (p) => p.replace(/token=[^&]*/, 'token=…'))!
  observer.onRequest({ id: 'a', requestId: undefined, tunnelId: 't', method: 'GET', path: '/file?token=s3cret', headers: [], startedAt: Date.now() })
  observer.onResponse?.('a', 200, [['Content-Length', String(4096)]])
  observer.onResponseBody?.('a', Buffer.alloc(1024))
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.doesNotMatch(written.at(-1)!, /IN PROGRESS/, 'not before progressAfterMs')
  // No further change: the progress redraw (every 500 ms while requests are in flight) shows it.
  await new Promise((resolve) => setTimeout(resolve, 600))
  const shown = written.at(-1)!
  assert.match(shown, /IN PROGRESS\nGET +\/file\?token=… +↓ 1\.0 KiB of 4\.0 KiB \(25 %\)/)
  assert.doesNotMatch(shown, /s3cret/)
  observer.onEnd({ id: 'a', status: 200, responseHeaders: [], requestBytes: 0, responseBytes: 4096, durationMs: 600 })
  board.rows[0]!.setState('online', { error: 'x' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.doesNotMatch(written.at(-1)!, /IN PROGRESS/)
  const piped = new StatusBoard({ write: () => {}, isTTY: false })
  assert.equal(
    piped.transferObserver('web', (p) => p),
    undefined,
  )
  piped.close()
})
