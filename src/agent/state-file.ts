import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { AditError, ErrorCode } from '../errors.js'

/** What the agent keeps between runs. The secret is why the file is 0600. */
export interface AgentState {
  server: string
  id: string
  secret: string
  public_url: string
}

/** Reads the state file; null when absent or for another server. */
export async function loadState(path: string, server: string): Promise<AgentState | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new AditError(ErrorCode.STATE_FILE, 0, `cannot read state file ${path}: ${(error as Error).message}`, { cause: error })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (cause) {
    throw new AditError(ErrorCode.STATE_FILE, 0, `state file ${path} is not valid JSON; delete it to register a new tunnel`, { cause })
  }
  // `null` or a bare number is valid JSON but no state: treat it like missing fields.
  if (parsed === null || typeof parsed !== 'object') return null
  const value = parsed as Partial<AgentState>
  if (typeof value.id !== 'string' || typeof value.secret !== 'string' || typeof value.public_url !== 'string') return null
  if (value.server !== server) return null
  return value as AgentState
}

/** Writes the state file atomically with mode 0600 (it holds the tunnel secret). */
export async function saveState(path: string, state: AgentState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, path)
}

/**
 * Calls `onChange` (debounced) when the state file is written, by this
 * process or another (`adit tunnels rotate`). The folder is watched, not the
 * file: saveState replaces the file by a rename, which a watch on the old
 * file would not see. Returns the function that stops watching.
 */
export function watchStateFile(path: string, onChange: () => void, debounceMs = 50): () => void {
  let timer: NodeJS.Timeout | undefined
  let watcher: FSWatcher
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, name) => {
      if (name !== null && name.toString() !== basename(path)) return
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = undefined
        onChange()
      }, debounceMs)
    })
  } catch {
    // No folder yet, or no inotify: the agent runs on without noticing rotations.
    return () => {}
  }
  watcher.on('error', () => watcher.close())
  return () => {
    if (timer !== undefined) clearTimeout(timer)
    watcher.close()
  }
}

/** Reads a state file whatever its server; null when absent or not a state file. */
export async function readState(path: string): Promise<AgentState | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new AditError(ErrorCode.STATE_FILE, 0, `cannot read state file ${path}: ${(error as Error).message}`, { cause: error })
  }
  let value: Partial<AgentState>
  try {
    value = JSON.parse(text) as Partial<AgentState>
  } catch {
    return null
  }
  if (value === null || typeof value !== 'object') return null
  if (typeof value.server !== 'string' || typeof value.id !== 'string' || typeof value.secret !== 'string' || typeof value.public_url !== 'string') return null
  return { server: value.server, id: value.id, secret: value.secret, public_url: value.public_url }
}
