// Starting the images' commands as real processes on loopback for the deploy
// tests: the server CMD with Cloud Run's environment, an agent, and a local
// HTTP service. Every process is killed in t.after, also when a test fails.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'

export interface TestContext {
  after: (fn: () => void | Promise<void>) => void
}

export interface Started {
  child: ChildProcessWithoutNullStreams
  /** Everything written to stderr so far (for assertion messages). */
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Spawns argv (argv[0] === 'node' runs this node) and kills it in t.after. */
export function start(t: TestContext, argv: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Started {
  const [command, ...args] = argv
  const child = spawn(command === 'node' ? process.execPath : command!, args, { cwd: options.cwd, env: options.env })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return { child, stderr: () => stderr, exited }
}

/**
 * The first stdout line for which `pick` returns a value. Rejects when the
 * process exits first or after `timeoutMs`.
 */
export function waitForLine<T>(started: Started, pick: (line: string) => T | undefined, timeoutMs = 15_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const lines = createInterface({ input: started.child.stdout })
    const timer = setTimeout(() => finish(new Error(`no expected line within ${timeoutMs} ms; stderr: ${started.stderr()}`)), timeoutMs)
    const finish = (error: Error | undefined, value?: T): void => {
      clearTimeout(timer)
      lines.removeAllListeners('line')
      lines.close()
      started.child.stdout.resume()
      if (error) reject(error)
      else resolve(value as T)
    }
    lines.on('line', (line) => {
      const value = pick(line)
      if (value !== undefined) finish(undefined, value)
    })
    void started.exited.then(({ code, signal }) =>
      finish(new Error(`process exited (code ${code}, signal ${signal}) before the expected line; stderr: ${started.stderr()}`)),
    )
  })
}

/** Cloud Run's environment for a container, on loopback with a free port. */
export function cloudRunEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    PORT: '0',
    HOST: '127.0.0.1',
    K_SERVICE: 'adit',
    K_REVISION: 'adit-00001-tst',
    K_CONFIGURATION: 'adit',
    ADIT_SIGNING_KEY: randomBytes(32).toString('base64url'),
    ADIT_API_KEYS: 'deploy-test-key',
    LOG_LEVEL: 'info',
    ...extra,
  }
}

/** Reads the port from the server's JSON "listening" log line. */
export function listeningPort(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    // pino's default key is "msg"; adit's logger uses Cloud Logging's "message".
    const record = JSON.parse(line) as { msg?: unknown; message?: unknown; port?: unknown }
    const message = record.message ?? record.msg
    return message === 'listening' && typeof record.port === 'number' ? record.port : undefined
  } catch {
    return undefined
  }
}

/** A private HTTP service on loopback that answers every request with its path. */
export async function localService(t: TestContext): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain')
    res.end(`local saw ${req.method} ${req.url}`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  server.closeIdleConnections()
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** The public URL from the agent's "adit: forwarding URL → local" line. */
export function forwardingUrl(line: string): string | undefined {
  const match = /^adit: forwarding (\S+) →/.exec(line)
  return match?.[1]
}
