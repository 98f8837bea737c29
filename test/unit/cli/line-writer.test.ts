import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lineWriter } from '../../../src/cli/agent-command.js'

function pipe(): { out: { isTTY: boolean; write(text: string): boolean }; writes: string[] } {
  const writes: string[] = []
  return { out: { isTTY: false, write: (text: string) => writes.push(text) > 0 }, writes }
}

test('piped stdout: a line alone is written at once, the ones right after it wait for the batch', () => {
  const { out, writes } = pipe()
  const write = lineWriter(out)
  write('adit: inspector on http://127.0.0.1:4040')
  write('adit: forwarding https://t.example → http://localhost:3000')
  // This is what made every piped start wait ~50 ms for its forwarding line.
  assert.deepEqual(writes, ['adit: inspector on http://127.0.0.1:4040\n'])
})

test('a line written now starts no batch: the forwarding line after it is written at once, in order', () => {
  const { out, writes } = pipe()
  const write = lineWriter(out)
  write('first')
  write('gathered')
  write.now('adit: inspector on http://127.0.0.1:4040')
  write('adit: forwarding https://t.example → http://localhost:3000')
  assert.deepEqual(writes, ['first\n', 'gathered\nadit: inspector on http://127.0.0.1:4040\n', 'adit: forwarding https://t.example → http://localhost:3000\n'])
})

test('a terminal gets every line at once', () => {
  const writes: string[] = []
  const write = lineWriter({ isTTY: true, write: (text: string) => writes.push(text) > 0 })
  write('a')
  write('b')
  write.now('c')
  assert.deepEqual(writes, ['a\n', 'b\n', 'c\n'])
})
