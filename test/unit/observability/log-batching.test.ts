/**
 * JSON log lines to a file descriptor are batched: a line per request (the
 * access log) must not cost one asynchronous write — one thread-pool round
 * trip and wake-up — per line. A child process logs one line every few ms on
 * stdout (a pipe, as under a supervisor); the writes reaching the pipe are
 * counted, and every line must still arrive, the last ones within the flush
 * interval and at exit.
 */
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'

const loggerModule = fileURLToPath(new URL('../../../src/observability/logger.js', import.meta.url))
const LINES = 60

const child = `
import { createLogger } from ${JSON.stringify(loggerModule)}
const logger = createLogger({ name: 't', format: 'json' })
let n = 0
const timer = setInterval(() => {
  logger.info({ n, path: '/some/path?x=1', status: 200 }, 'proxied')
  if (++n === ${LINES}) { clearInterval(timer); setTimeout(() => process.exit(0), 20) }
}, 3)
`

test('log lines from separate ticks leave in batched writes, and none is lost at exit', async () => {
  const cp = spawn(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'inherit'] })
  let writes = 0
  let text = ''
  cp.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    writes++
    text += chunk
  })
  const code = await new Promise<number | null>((resolve) => cp.once('close', resolve))
  assert.equal(code, 0)
  const lines = text.trim().split('\n')
  assert.equal(lines.length, LINES, 'every line arrived, the buffered ones at exit')
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { n: number }).n),
    Array.from({ length: LINES }, (_, i) => i),
  )
  // One write per line (60) before batching; a few with it (4 KiB batches, a flush every 100 ms, one at exit).
  assert.ok(writes <= LINES / 3, `${writes} writes reached the pipe for ${LINES} lines`)
})
