/**
 * Every process the harness starts goes through one ChildSet, so that all of
 * them are ended by PID when the run finishes — normally, on an error, or on
 * SIGINT/SIGTERM. Children print JSON lines on stdout; `waitForLine` awaits
 * the first one that matches, bounded in time, and stdout keeps being drained
 * afterwards so a chatty child (a server logging every request) never blocks
 * on a full pipe.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

export class BenchChildError extends Error {
  readonly code: 'ADIT_ERR_BENCH_CHILD_EXIT' | 'ADIT_ERR_BENCH_CHILD_TIMEOUT'
  constructor(code: BenchChildError['code'], message: string) {
    super(message)
    this.code = code
    this.name = 'BenchChildError'
  }
}

/** How much of a child's recent output is kept to explain a failure. */
const TAIL_LINES = 20

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  /** Resolves with the first stdout JSON line for which `match` is true. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>
  /** The last lines of stdout and stderr, for error messages. */
  tail(): string
  readonly exited: Promise<number | null>
}

interface Waiter {
  match: (line: Record<string, unknown>) => boolean
  resolve: (line: Record<string, unknown>) => void
}

export class ChildSet {
  private readonly live = new Set<Child>()

  constructor() {
    // Last resort: a synchronous kill of whatever is still running when this process exits.
    process.on('exit', () => {
      for (const child of this.live) killQuietly(child.pid, 'SIGKILL')
    })
  }

  /** Starts `node <script> ...args` with an IPC channel (for the harness's own children). */
  fork(name: string, script: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Child {
    const cp = fork(script, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    return this.track(name, cp)
  }

  /** Starts `node [...nodeArgs] <script> ...args` without IPC (the adit server and agent, as a user would). */
  spawnNode(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Child {
    const cp = spawn(process.execPath, [...nodeArgs, script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    return this.track(name, cp)
  }

  private track(name: string, cp: ChildProcess): Child {
    if (cp.pid === undefined) throw new BenchChildError('ADIT_ERR_BENCH_CHILD_EXIT', `${name}: could not start`)
    const pid = cp.pid
    const tail: string[] = []
    const waiters = new Set<Waiter>()
    const remember = (line: string) => {
      tail.push(line)
      if (tail.length > TAIL_LINES) tail.shift()
    }
    createInterface({ input: cp.stdout! }).on('line', (line) => {
      remember(line)
      if (waiters.size === 0 || !line.startsWith('{')) return
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      for (const waiter of waiters) {
        if (waiter.match(parsed)) {
          waiters.delete(waiter)
          waiter.resolve(parsed)
        }
      }
    })
    createInterface({ input: cp.stderr! }).on('line', (line) => remember(`stderr: ${line}`))
    const exited = new Promise<number | null>((resolve) => {
      cp.once('exit', (code) => {
        this.live.delete(child)
        resolve(code)
      })
    })
    const child: Child = {
      name,
      process: cp,
      pid,
      exited,
      tail: () => tail.join('\n'),
      waitForLine: (match, timeoutMs) =>
        new Promise((resolve, reject) => {
          const waiter: Waiter = {
            match,
            resolve: (line) => {
              clearTimeout(timer)
              resolve(line)
            },
          }
          const timer = setTimeout(() => {
            waiters.delete(waiter)
            reject(
              new BenchChildError(
                'ADIT_ERR_BENCH_CHILD_TIMEOUT',
                `${name} (pid ${pid}) printed no expected line within ${timeoutMs} ms; last output:\n${tail.join('\n')}`,
              ),
            )
          }, timeoutMs)
          waiters.add(waiter)
          void exited.then((code) => {
            if (!waiters.delete(waiter)) return
            clearTimeout(timer)
            reject(
              new BenchChildError(
                'ADIT_ERR_BENCH_CHILD_EXIT',
                `${name} (pid ${pid}) exited with ${code} before it was ready; last output:\n${tail.join('\n')}`,
              ),
            )
          })
        }),
    }
    this.live.add(child)
    return child
  }

  /** Ends one child by PID: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(child: Child, graceMs = 2000): Promise<void> {
    if (!this.live.has(child)) return
    killQuietly(child.pid, 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        killQuietly(child.pid, 'SIGKILL')
        resolve()
      }, graceMs)
    })
    await Promise.race([child.exited.then(() => undefined), killed])
    clearTimeout(timer)
    await child.exited
  }

  /** Ends every child still running, each by its own PID. */
  async stopAll(graceMs = 2000): Promise<void> {
    await Promise.all([...this.live].map((child) => this.stop(child, graceMs)))
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // Already gone.
  }
}
