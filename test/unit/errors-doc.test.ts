import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ErrorCode, publicErrors } from '../../src/errors.js'
import { ProtocolErrorCode } from '../../src/protocol/errors.js'
import { ClusterErrorCode } from '../../src/cluster/errors.js'

// Compiled to dist/test/unit/: three levels up is the repository root.
const docPath = new URL('../../../docs/errors.md', import.meta.url)

/** Table rows of docs/errors.md whose first cell is a code: code → cells. */
function documentedRows(): Map<string, string[]> {
  const rows = new Map<string, string[]>()
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    const match = /^\|\s*`(ADIT_ERR_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line)
    if (!match) continue
    const code = match[1]!
    assert.ok(!rows.has(code), `${code} is listed twice in docs/errors.md`)
    rows.set(
      code,
      match[2]!.split('|').map((cell) => cell.trim()),
    )
  }
  return rows
}

const sourceCodes = new Set<string>([...Object.values(ErrorCode), ...Object.values(ProtocolErrorCode), ...Object.values(ClusterErrorCode)])

test('the source defines each code once', () => {
  assert.equal(sourceCodes.size, Object.keys(ErrorCode).length + Object.keys(ProtocolErrorCode).length + Object.keys(ClusterErrorCode).length)
})

test('every error code in the source has a row in docs/errors.md', () => {
  const rows = documentedRows()
  const missing = [...sourceCodes].filter((code) => !rows.has(code))
  assert.deepEqual(missing, [], `add these codes to docs/errors.md: ${missing.join(', ')}`)
})

test('docs/errors.md lists no code the source lacks', () => {
  const extra = [...documentedRows().keys()].filter((code) => !sourceCodes.has(code))
  assert.deepEqual(extra, [], `these codes in docs/errors.md are not in src/errors.ts, src/protocol/errors.ts or src/cluster/errors.ts: ${extra.join(', ')}`)
})

test('each row has a status, a meaning and advice; public errors show their HTTP status, the others none', () => {
  for (const [code, cells] of documentedRows()) {
    assert.equal(cells.length, 3, `${code}: expected | code | status | meaning | what to do |`)
    const [status, meaning, advice] = cells as [string, string, string]
    assert.ok(meaning.length > 0 && advice.length > 0, `${code}: meaning and advice must not be empty`)
    const expected = (publicErrors as Record<string, { status: number } | undefined>)[code]?.status
    assert.equal(status, expected === undefined ? '—' : String(expected), `${code}: status column`)
  }
})
