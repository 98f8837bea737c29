import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../deploy/repo.js'
import { agentSettings } from '../../../src/config/agent-table.js'
import { serverSettings } from '../../../src/config/server-table.js'
import { flagSpec } from '../../../src/config/setting.js'
import { readmeTables, withTables } from '../../../src/config/tables.js'

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
