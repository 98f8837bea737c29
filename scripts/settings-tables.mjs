// Writes the README's flag tables from the settings tables (src/config/), between the
// `<!-- settings:NAME -->` markers. Run after `npm run build`; `--check` only reports drift.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { withTables } = await import(join(root, 'dist/src/config/tables.js'))
const readme = join(root, 'README.md')
const text = readFileSync(readme, 'utf8')
const next = withTables(text)
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('README.md flag tables differ from src/config/: run `npm run build && node scripts/settings-tables.mjs`')
    process.exit(1)
  }
} else if (next !== text) {
  writeFileSync(readme, next)
  console.log('README.md: flag tables rewritten')
}
