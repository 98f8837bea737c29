import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The compiled CLI entry, as `npx adit` runs it. */
export const BIN = fileURLToPath(new URL('../../src/bin.js', import.meta.url))

const live = new Set<ChildProcess>()
// Last resort if a test forgets: never leave a child behind.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export interface Spawned {
  readonly proc: ChildProcess
  readonly pid: number
  /** Every stdout/stderr line so far. */
  readonly lines: string[]
  /** Resolves with the first stdout line matching `predicate` (rejects on exit or timeout). */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>
  /** Sends `signal` and resolves once the process exited (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>
  readonly exited: Promise<number | null>
}

/**
 * The test process's environment minus what would change a process's mode
 * behind a test's back: CI exports REDIS_URL for the cluster suites, and a
 * server inheriting it would share state (names, revocations) across tests
 * and runs. Tests that want a setting pass it in `env`.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of [
    'REDIS_URL',
    'ADIT_REDIS_PREFIX',
    'ADIT_INSTANCE_ID',
    'ADIT_SIGNING_KEY',
    'ADIT_CONFIG',
    'K_SERVICE',
    'PORT',
    'HOST',
    'ADIT_DATA_DIR',
    'ADIT_STORE',
  ])
    delete env[name]
  return env
}

/**
 * A server's store is a file under an exclusive lock: every `adit server`
 * a test starts gets its own fresh data directory (removed when it exits)
 * unless the test names one (a restart test passes the same ADIT_DATA_DIR twice).
 */
function dataDirFor(args: string[], env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; remove(): void } {
  if (args[0] !== 'server' || env.ADIT_DATA_DIR !== undefined || args.includes('--data-dir')) return { env: {}, remove: () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'adit-data-'))
  return { env: { ADIT_DATA_DIR: dir }, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export function spawnAdit(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const data = dataDirFor(args, env)
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...inheritedEnv(), LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...data.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(proc)
  const lines: string[] = []
  const waiters = new Set<{ predicate: (l: string) => boolean; resolve: (l: string) => void }>()
  const onLine = (line: string): void => {
    lines.push(line)
    if (process.env.ADIT_TEST_VERBOSE) process.stderr.write(`[${proc.pid}] ${line}\n`)
    for (const w of waiters) {
      if (w.predicate(line)) {
        waiters.delete(w)
        w.resolve(line)
      }
    }
  }
  createInterface({ input: proc.stdout! }).on('line', onLine)
  createInterface({ input: proc.stderr! }).on('line', onLine)
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc)
      data.remove()
      resolve(code ?? (signal ? -1 : null))
    })
  })
  const waitForLine = (predicate: (line: string) => boolean, timeoutMs = 10_000): Promise<string> => {
    const seen = lines.find(predicate)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve: (l: string) => (clearTimeout(timer), resolve(l)) }
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`timed out waiting for a line from pid ${proc.pid}; last lines:\n${lines.slice(-10).join('\n')}`))
      }, timeoutMs)
      waiters.add(waiter)
      void exited.then((code) => {
        if (!waiters.has(waiter)) return
        waiters.delete(waiter)
        clearTimeout(timer)
        reject(new Error(`pid ${proc.pid} exited (${code}) before the expected line; last lines:\n${lines.slice(-10).join('\n')}`))
      })
    })
  }
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return exited
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  return { proc, pid: proc.pid!, lines, waitForLine, stop, exited }
}

/**
 * How long a process may take to print its ready line. Generous: on a loaded 2-core machine a
 * restart under load has taken over 10 s; this guards against a hang, it measures nothing.
 */
const START_TIMEOUT_MS = 30_000

/** Waits for the ready line; a process that never gets there is killed, so no test is left waiting on it. */
async function readyLine(spawned: Spawned, predicate: (line: string) => boolean): Promise<string> {
  try {
    return await spawned.waitForLine(predicate, START_TIMEOUT_MS)
  } catch (err) {
    await spawned.stop('SIGKILL')
    throw err
  }
}

export interface ServerProcess extends Spawned {
  url: string
  port: number
}

/** `adit server` on loopback; port 0 unless given. */
export async function startServerProcess(options: { port?: number; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<ServerProcess> {
  const spawned = spawnAdit(['server', '--host', '127.0.0.1', '--port', String(options.port ?? 0), ...(options.args ?? [])], options.env)
  const line = await readyLine(spawned, (l) => l.includes('"message":"listening"'))
  const { url, port } = JSON.parse(line) as { url: string; port: number }
  return Object.assign(spawned, { url, port })
}

export interface AgentProcess extends Spawned {
  id: string
  publicUrl: string
}

/**
 * `adit agent --json`; resolves at its `ready` line. The inspector is on by
 * default at 127.0.0.1:4040, so agents started here get `--no-inspect` unless
 * the test asks for one (`args: ['--inspect', '127.0.0.1:0']`): parallel test
 * agents must not fight over a fixed port.
 */
export async function startAgentProcess(
  server: string,
  local: string,
  options: { stateFile: string; args?: string[]; env?: NodeJS.ProcessEnv },
): Promise<AgentProcess> {
  const args = options.args ?? []
  const inspects = args.some((a) => a === '--inspect' || a.startsWith('--inspect=') || a.startsWith('--inspect-addr') || a === '--no-inspect')
  const spawned = spawnAdit(
    ['agent', '--server', server, '--local', local, '--json', '--state-file', options.stateFile, ...(inspects ? [] : ['--no-inspect']), ...args],
    options.env,
  )
  const line = await readyLine(spawned, (l) => l.startsWith('{"event":"ready"'))
  const { id, public_url } = JSON.parse(line) as { id: string; public_url: string }
  return Object.assign(spawned, { id, publicUrl: public_url })
}

/** Resident set size of a process, in bytes (`VmRSS`), or peak (`VmHWM`). */
export function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`no ${field} for pid ${pid}`)
  return Number(match[1]) * 1024
}

/** Samples VmRSS every `intervalMs` until stopped; returns the peak seen. */
export function sampleRss(pid: number, intervalMs = 25): { stop(): number } {
  let peak = memoryOf(pid)
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memoryOf(pid))
    } catch {
      clearInterval(timer)
    }
  }, intervalMs)
  return {
    stop() {
      clearInterval(timer)
      return peak
    },
  }
}
