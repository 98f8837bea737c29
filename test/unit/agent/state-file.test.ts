import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadState, saveState, type AgentState } from '../../../src/agent/state-file.js'
import { ErrorCode } from '../../../src/errors.js'

const server = 'https://adit.example.com'
const state: AgentState = { server, id: 'abcdefghijklmnop', secret: 's3cret', public_url: 'https://adit.example.com/pub/abcdefghijklmnop/' }

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'adit-state-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

test('save then load round-trips the state, creating missing directories', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'nested', 'deeper', 'agent-state.json')
  await saveState(path, state)
  assert.deepEqual(await loadState(path, server), state)
  assert.deepEqual(await readdir(join(dir, 'nested', 'deeper')), ['agent-state.json'], 'no temporary file is left behind')
})

test('the file on disk has mode 0600, even when it replaces a 0644 one', { skip: process.platform === 'win32' ? 'POSIX modes' : false }, async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'agent-state.json')
  await saveState(path, state)
  assert.equal((await stat(path)).mode & 0o777, 0o600)
  await chmod(path, 0o644)
  await saveState(path, { ...state, secret: 'rotated' })
  assert.equal((await stat(path)).mode & 0o777, 0o600)
  assert.equal((await loadState(path, server))?.secret, 'rotated')
})

test('a missing file loads as null', async (t) => {
  const dir = await tempDir(t)
  assert.equal(await loadState(join(dir, 'absent.json'), server), null)
})

test('state for another server loads as null', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'agent-state.json')
  await saveState(path, state)
  assert.equal(await loadState(path, 'https://other.example.com'), null)
})

test('state lacking id, secret or public_url loads as null', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'agent-state.json')
  for (const partial of [
    { server, secret: 's', public_url: 'u' },
    { server, id: 'i', public_url: 'u' },
    { server, id: 'i', secret: 's' },
    { server, id: 1, secret: 's', public_url: 'u' },
  ]) {
    await writeFile(path, JSON.stringify(partial))
    assert.equal(await loadState(path, server), null, JSON.stringify(partial))
  }
})

test('valid JSON that is not an object loads as null instead of throwing a TypeError', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'agent-state.json')
  for (const text of ['null', '42', '"text"', '[]', 'true']) {
    await writeFile(path, text)
    assert.equal(await loadState(path, server), null, text)
  }
})

test('corrupt JSON is ADIT_ERR_STATE_FILE', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'agent-state.json')
  for (const text of ['', '{', '{"id": "x",}', 'not json']) {
    await writeFile(path, text)
    await assert.rejects(loadState(path, server), { code: ErrorCode.STATE_FILE }, JSON.stringify(text))
  }
})

test('a state path that cannot be read is ADIT_ERR_STATE_FILE', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'a-directory')
  await mkdir(path)
  await assert.rejects(loadState(path, server), { code: ErrorCode.STATE_FILE })
})
