/**
 * gRPC through the tunnel, direct vs adit (issue 14): a unary call's latency
 * (sequential calls, p50/p99) and a server-streaming call's throughput, with
 * the wire format by hand (test/harness/grpc-wire.ts; `@grpc/grpc-js` is not a
 * dependency). The service, `adit server --h2c` and `adit agent --local
 * h2c://…` each run in their own process; the client runs here, over one
 * HTTP/2 connection, the same way for both paths. Bounded in count and time.
 *
 *   npm run build && node dist/bench/grpc.js [--calls=2000] [--stream-mib=256]
 */
import type { ClientHttp2Session } from 'node:http2'
import { ChildSet } from './children.js'
import { defaultAditBin, startAditAgent, startAditServer, type AditLaunch } from './processes.js'
import { grpcCall, h2Session } from '../test/harness/grpc-wire.js'

const MiB = 1024 * 1024
const MESSAGE = 64 * 1024

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  const value = arg === undefined ? fallback : Number(arg.slice(name.length + 3))
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`)
  return value
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function unaryLatency(session: ClientHttp2Session, path: string, calls: number, deadline: number): Promise<{ p50: number; p99: number; calls: number }> {
  const times: number[] = []
  const payload = [Buffer.from('ping')]
  for (let i = 0; i < 50; i++) await grpcCall(session, path, { messages: payload }) // warm-up
  for (let i = 0; i < calls && Date.now() < deadline; i++) {
    const start = performance.now()
    const reply = await grpcCall(session, path, { messages: payload })
    times.push(performance.now() - start)
    if (reply.status !== 0) throw new Error(`unary call ${i} ended with grpc-status ${reply.status}`)
  }
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 50), p99: percentile(times, 99), calls: times.length }
}

async function streamThroughput(session: ClientHttp2Session, path: string, mib: number): Promise<number> {
  const count = Math.ceil((mib * MiB) / MESSAGE)
  await grpcCall(session, path, { messages: [Buffer.from(`16:${MESSAGE}`)] }) // warm-up
  const start = performance.now()
  const reply = await grpcCall(session, path, { messages: [Buffer.from(`${count}:${MESSAGE}`)] })
  const seconds = (performance.now() - start) / 1000
  if (reply.status !== 0 || reply.messages.length !== count)
    throw new Error(`stream ended early: ${reply.messages.length}/${count} messages, status ${reply.status}`)
  return (count * MESSAGE) / MiB / seconds
}

async function main(): Promise<void> {
  const calls = option('calls', 2000)
  const streamMib = option('stream-mib', 256)
  const deadline = Date.now() + option('max-seconds', 120) * 1000
  const children = new ChildSet()
  const sessions: ClientHttp2Session[] = []
  try {
    const serviceChild = children.fork('grpc service', new URL('./grpc-service.js', import.meta.url).pathname)
    const ready = await serviceChild.waitForLine((line) => line.event === 'ready', 30_000)
    const launch: AditLaunch = { bin: defaultAditBin, cpuProfDir: undefined }
    const server = await startAditServer(children, launch, 'adit server', ['--h2c'])
    const agent = await startAditAgent(children, launch, server.url, String(ready.url), undefined, ['--no-inspect'])
    const prefix = new URL(agent.publicUrl).pathname.slice(0, -1)
    const direct = h2Session(`http://127.0.0.1:${Number(ready.port)}`)
    const tunnel = h2Session(server.url)
    sessions.push(direct, tunnel)
    const rows: Array<[string, string, string, string]> = []
    const d = await unaryLatency(direct, '/test.Echo/Unary', calls, deadline)
    const t = await unaryLatency(tunnel, `${prefix}/test.Echo/Unary`, calls, deadline)
    rows.push([`unary latency p50 (ms, ${t.calls} calls)`, d.p50.toFixed(3), t.p50.toFixed(3), (t.p50 / d.p50).toFixed(2)])
    rows.push(['unary latency p99 (ms)', d.p99.toFixed(3), t.p99.toFixed(3), (t.p99 / d.p99).toFixed(2)])
    const ds = await streamThroughput(direct, '/test.Echo/ServerStream', streamMib)
    const ts = await streamThroughput(tunnel, `${prefix}/test.Echo/ServerStream`, streamMib)
    rows.push([`server streaming (MiB/s, ${streamMib} MiB in 64 KiB messages)`, ds.toFixed(1), ts.toFixed(1), (ts / ds).toFixed(2)])
    process.stdout.write('| figure | direct | adit | adit/direct |\n|---|---|---|---|\n')
    for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`)
  } finally {
    for (const s of sessions) s.destroy()
    await children.stopAll()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
    process.exit(1)
  },
)
