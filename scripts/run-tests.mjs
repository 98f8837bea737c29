// Runs every compiled test file under dist/test with node:test. Node 20's
// runner takes explicit files, so they are listed here; the runner's own
// summary ("# pass N", "# fail N") is what CI reads.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = 'dist/test'
const only = process.argv.slice(2)

function collect(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...collect(path))
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

const files = collect(root).filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
if (files.length === 0) {
  console.error(`no test files found under ${root}${only.length ? ` matching ${only.join(' ')}` : ''}`)
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' })
process.exit(result.status ?? 1)
