/**
 * The README's library example is a program a user copies: this test takes
 * it from README.md exactly as written, runs it with `import ... from 'adit-tunnel'`
 * resolving to this package (a file inside the package can import the
 * package by name), and checks what it prints.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

const repo = fileURLToPath(new URL('../../../', import.meta.url))

/** The first ```js block after the "### As a library" heading. */
export function libraryExample(readme: string): string {
  const section = readme.indexOf('### As a library')
  assert.notEqual(section, -1, 'README has an "As a library" section')
  const match = /```js\n([\s\S]*?)```/.exec(readme.slice(section))
  assert.ok(match, 'the section has a ```js block')
  return match[1]!
}

test("README's library example runs as written against a real local service", async (t) => {
  const code = libraryExample(readFileSync(`${repo}README.md`, 'utf8'))
  assert.match(code, /from 'adit-tunnel'/)
  // Inside the package (dist/ is), so 'adit-tunnel' resolves through package.json "exports".
  const file = `${repo}dist/readme-example-${process.pid}.mjs`
  writeFileSync(file, code)
  t.after(() => rmSync(file, { force: true }))
  const child = spawn(process.execPath, [file], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } })
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  t.after(() => {
    clearTimeout(killer)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c))
  const code_ = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  assert.equal(code_, 0, `the example exits cleanly\n${err}`)
  const lines = out.split('\n')
  assert.ok(
    lines.some((l) => /^public URL: http:\/\/127\.0\.0\.1:\d+\/pub\/[a-z0-9]+\/$/.test(l)),
    out,
  )
  assert.ok(lines.includes('200 hello from /hello'), out)
  assert.ok(lines.includes('200 hello from /again'), out)
  assert.ok(
    lines.some((l) => /^request: GET \/hello 200 \d+ ms$/.test(l)),
    out,
  )
  assert.ok(
    lines.some((l) => /^request: GET \/again 200 \d+ ms$/.test(l)),
    'the replay is observed like any request',
  )
})
