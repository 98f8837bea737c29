/**
 * Start-up time of the CLI (issue 13, item 6): wall time from spawn to exit
 * of `adit --version`, and from spawn to the agent's `forwarding` line for
 * `adit http <port>` against a server already running on loopback; `node -e 0`
 * is the floor. Medians of N runs, all builds and Node binaries interleaved
 * run by run (the machine is shared: a burst of load hits every column alike).
 *
 *   node dist/bench/startup.js [--runs 9] [--node /path/to/node]... [--base <checkout>]...
 *
 * Each --base is another built checkout (`dist/src/bin.js`) to compare with,
 * e.g. a `git worktree add --detach` of an older commit; one without the
 * `http` command runs `adit agent --local …` instead. The server is this
 * checkout's (memory store, loopback, port 0); every child is ended by PID.
 * Bounded: each run is capped at 30 s. Not part of `npm run bench`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ChildSet } from './children.js'

const RUN_CAP_MS = 30_000
const here = fileURLToPath(new URL('../..', import.meta.url))

interface Tree {
  name: string
  bin: string
  hasHttpCommand: boolean
}

function parseArgs(argv: string[]): { runs: number; nodes: string[]; trees: Tree[] } {
  let runs = 9
  const nodes: string[] = []
  const roots: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = argv[i + 1]
    if (value === undefined) throw new Error(`${arg} needs a value`)
    if (arg === '--runs') runs = Number(value)
    else if (arg === '--node') nodes.push(value)
    else if (arg === '--base') roots.push(resolve(value))
    else throw new Error(`unknown option ${arg}`)
    i++
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a positive integer')
  if (nodes.length === 0) nodes.push(process.execPath)
  const trees = [here, ...roots].map((root, i): Tree => {
    // The npm bin (package.json), as `adit` runs after an install.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: Record<string, string> }
    const bin = join(root, pkg.bin?.adit ?? 'dist/src/bin.js')
    // An older build without `adit http` (issue 13) runs the agent command of its day.
    const hasHttpCommand = readFileSync(join(root, 'dist/src/cli/cli.js'), 'utf8').includes("command('http <target>')")
    return { name: i === 0 ? 'this' : root, bin, hasHttpCommand }
  })
  return { runs, nodes, trees }
}

/** Spawn to exit, or to the first output line matching `until` (then the child is ended by PID). */
function timeOne(node: string, args: string[], env: NodeJS.ProcessEnv, until?: RegExp): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now()
    const child = spawn(node, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let done = false
    const finish = (error?: Error): void => {
      if (done) return
      done = true
      clearTimeout(cap)
      const ms = performance.now() - started
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      if (error) reject(error)
      else resolvePromise(ms)
    }
    const cap = setTimeout(() => finish(new Error(`${args.join(' ')}: no result within ${RUN_CAP_MS} ms; output:\n${output}`)), RUN_CAP_MS)
    const watch = (chunk: Buffer): void => {
      output += chunk.toString()
      if (until?.test(output)) finish()
    }
    child.stdout.on('data', watch)
    child.stderr.on('data', watch)
    child.once('exit', (code) => {
      if (until === undefined && code === 0) finish()
      else finish(new Error(`${args.join(' ')} exited with ${code} before it was done; output:\n${output}`))
    })
  })
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

async function main(): Promise<void> {
  const { runs, nodes, trees } = parseArgs(process.argv.slice(2))
  const children = new ChildSet()
  const dataDir = mkdtempSync(join(tmpdir(), 'adit-startup-'))
  const local = createServer((socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'))
  try {
    await new Promise<void>((ok) => local.listen(0, '127.0.0.1', ok))
    const localPort = (local.address() as AddressInfo).port
    const serverEnv = { ...process.env, ADIT_REGISTER_RATE: '100000/m', ADIT_DATA_DIR: dataDir }
    const server = children.spawnNode(
      'adit server',
      join(here, 'dist/src/bin.js'),
      ['server', '--port', '0', '--host', '127.0.0.1', '--store', 'memory'],
      serverEnv,
    )
    const listening = await server.waitForLine((l) => l.message === 'listening' && typeof l.url === 'string', RUN_CAP_MS)
    const serverUrl = String(listening.url)
    // No saved login, no inspector port shared between runs, no terminal: what a script sees.
    const agentEnv: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: dataDir, ADIT_SERVER: serverUrl }
    for (const key of Object.keys(agentEnv)) if (key.startsWith('ADIT_') && key !== 'ADIT_SERVER') delete agentEnv[key]

    type Key = string
    const samples = new Map<Key, number[]>()
    const add = (key: Key, ms: number): void => void (samples.get(key) ?? samples.set(key, []).get(key)!).push(ms)
    // One warm-up round (fills the OS page cache and, where it is on, V8's compile cache), then the measured rounds.
    for (let round = 0; round <= runs; round++) {
      for (const node of nodes) {
        const floor = await timeOne(node, ['-e', '0'], process.env)
        if (round > 0) add(`${node}\tnode -e 0\t-`, floor)
        for (const tree of trees) {
          const version = await timeOne(node, [tree.bin, '--version'], agentEnv)
          const stateFile = join(dataDir, `${trees.indexOf(tree)}-${nodes.indexOf(node)}-state.json`)
          const agentArgs = tree.hasHttpCommand
            ? [tree.bin, 'http', String(localPort), '--state-file', stateFile]
            : [tree.bin, 'agent', '--local', `http://127.0.0.1:${localPort}`, '--state-file', stateFile]
          const forwarding = await timeOne(node, agentArgs, agentEnv, /forwarding /)
          if (round === 0) continue
          add(`${node}\tadit --version\t${tree.name}`, version)
          add(`${node}\tto 'forwarding'\t${tree.name}`, forwarding)
        }
      }
    }
    process.stdout.write(`median of ${runs} runs (ms), load average ${(await import('node:os')).loadavg()[0]!.toFixed(2)}\n`)
    process.stdout.write('node\twhat\tbuild\tmedian\tmin\tmax\n')
    for (const [key, values] of samples) {
      process.stdout.write(`${key}\t${median(values).toFixed(0)}\t${Math.min(...values).toFixed(0)}\t${Math.max(...values).toFixed(0)}\n`)
    }
  } finally {
    await children.stopAll()
    local.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)
