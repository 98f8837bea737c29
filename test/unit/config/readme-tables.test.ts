import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../deploy/repo.js'
import { agentSettings } from '../../../src/config/agent-table.js'
import { serverSettings } from '../../../src/config/server-table.js'
import { flagSpec } from '../../../src/config/setting.js'
import { readmeTables, withTables } from '../../../src/config/tables.js'
import { RESERVED_NAMES } from '../../../src/server/registration.js'

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')

test('the README flag tables are the ones the settings tables generate (node scripts/settings-tables.mjs)', () => {
  assert.equal(withTables(readme), readme, 'README.md drifted from src/config/: run `npm run build && node scripts/settings-tables.mjs`')
})

test('every setting has exactly one README row', () => {
  const tables = readmeTables()
  for (const [name, rows] of [
    ['server-flags', serverSettings],
    ['agent-flags', agentSettings],
  ] as const) {
    const lines = tables[name]!.split('\n')
    for (const row of rows) assert.equal(lines.filter((l) => l.startsWith(`| \`${flagSpec(row)}\``)).length, 1, `${name}: ${row.flag}`)
  }
})

test('the README lists exactly the reserved tunnel names the server refuses, and its examples use none', () => {
  const block = /<!-- reserved-names -->(.*?)<!-- \/reserved-names -->/s.exec(readme)
  assert.ok(block, 'README has a reserved-names block')
  const listed = [...block[1]!.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!)
  assert.deepEqual([...listed].sort(), [...RESERVED_NAMES].sort())
  // Tunnel names in the README's examples: --name, `name:` entries and the status table's first column.
  const used = [...readme.matchAll(/(?:--name |- name: )([a-z0-9-]+)/g)].map((m) => m[1]!)
  const table = /\nTUNNEL +PUBLIC URL[^\n]*\n((?:[a-z0-9-]+ [^\n]*\n)+)/.exec(readme)
  if (table)
    used.push(
      ...table[1]!
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]!),
    )
  assert.ok(used.length > 0)
  for (const name of used) assert.ok(!RESERVED_NAMES.has(name), `the README's example uses the reserved name ${name}`)
})
