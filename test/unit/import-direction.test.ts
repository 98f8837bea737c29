/**
 * The direction data and imports flow in (ARCHITECTURE.md): `protocol/` and
 * `exchange/` are leaves that import nothing of adit outside themselves, and
 * `cli/` holds commands only — nothing but the entry point (`bin.ts`, which loads `main.ts`)
 * imports it, so settings, agent and server code never reach into a command.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
/** The source tree: from test/unit (tsx) or dist/test/unit (compiled), src/ is two or three levels up. */
const src = [resolve(here, '../../src'), resolve(here, '../../../src')].find((dir) => {
  try {
    return readdirSync(dir).includes('bin.ts')
  } catch {
    return false
  }
})!

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
}

/** Every relative import of every source file, as `from → to` paths under src/ (no extension). */
function imports(): Array<{ from: string; to: string }> {
  const out: Array<{ from: string; to: string }> = []
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)) {
      const target = resolve(dirname(file), match[1]!).replace(/\.js$/, '')
      out.push({ from: relative(src, file).replace(/\.ts$/, ''), to: relative(src, target) })
    }
  }
  return out
}

const all = imports()
const room = (path: string): string => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '.')

describe('import direction between the rooms of src/', () => {
  it('finds the imports it checks', () => {
    assert.ok(all.length > 100, `${all.length} imports found under ${src}`)
  })

  it('protocol/ and exchange/ import nothing of adit outside themselves', () => {
    const bad = all.filter(({ from, to }) => (room(from) === 'protocol' || room(from) === 'exchange') && room(to) !== room(from))
    assert.deepEqual(bad, [])
  })

  it('only the entry point imports cli/ (commands only; settings live in config/)', () => {
    const bad = all.filter(({ from, to }) => room(to) === 'cli' && room(from) !== 'cli' && from !== 'bin' && from !== 'main')
    assert.deepEqual(bad, [])
  })
})
