import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { encodeData, encodeHead } from '../../src/protocol/index.js'
import { memoryOf, sampleRss, startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { startLocalService } from '../harness/local-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'
import { connectRawAgent, type RawAgent } from '../harness/raw-agent.js'

const MiB = 1024 * 1024
/** Streams flooded at once, and one-byte DATA frames per stream: the whole 256 KiB initial credit. */
const STREAMS = 6
const FRAMES_PER_STREAM = 256 * 1024

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

/** Sequential GETs of `url` every 20 ms from a child process until stopped (or for `durationMs` when > 0). */
function probe(url: string, durationMs: number): Promise<ProbeResult> & { stop(): Promise<ProbeResult> } {
  const script = `
    const latencies = []; const statuses = {}; let stop = false
    process.on('SIGTERM', () => { stop = true })
    const until = ${durationMs} > 0 ? Date.now() + ${durationMs} : Infinity
    ;(async () => {
      while (!stop && Date.now() < until && latencies.length < 5000) {
        const started = performance.now()
        let status = 0
        try { const res = await fetch(${JSON.stringify(url)}); await res.text(); status = res.status } catch {}
        latencies.push(performance.now() - started)
        statuses[status] = (statuses[status] ?? 0) + 1
        await new Promise((r) => setTimeout(r, 20))
      }
      process.stdout.write(JSON.stringify({ latencies, statuses }))
    })()`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  const done = new Promise<ProbeResult>((resolve, reject) => {
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as ProbeResult)
      } catch (error) {
        reject(error as Error)
      }
    })
  })
  return Object.assign(done, {
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      return done
    },
  })
}

interface ProbeResult {
  latencies: number[]
  statuses: Record<string, number>
}

describe('per-frame cost: a flood of one-byte DATA frames within credit, while the public clients do not read', () => {
  const jobs = cleanup()
  let server: ServerProcess
  let other: AgentProcess
  let raw: RawAgent
  let floodPath: string
  const opened: number[] = []

  before(async () => {
    server = jobs.add(await startServerProcess())
    const service = jobs.add(await startLocalService())
    const dir = jobs.add(tempDir())
    other = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('other.json') }))
    const res = await request(`${server.url}/register`, { method: 'POST' })
    const tunnel = (await res.body.json()) as { id: string; secret: string }
    floodPath = `/pub/${tunnel.id}/flood`
    raw = jobs.add(
      await connectRawAgent(server.url, tunnel.id, tunnel.secret, (ws, streamId) => {
        // A chunked answer (no length) whose body will come as one-byte frames.
        ws.send(encodeHead(streamId, { status: 200, headers: [['content-type', 'application/octet-stream']] }))
        opened.push(streamId)
      }),
    )
  })
  after(() => jobs.run())

  it(`${STREAMS} streams × ${FRAMES_PER_STREAM} one-byte frames: server memory stays bounded and the flood costs the flooding connection, not other tunnels`, async (t) => {
    // Public clients that send their request and never read the answer.
    const clients: Socket[] = []
    t.after(() => clients.forEach((c) => c.destroy()))
    for (let i = 0; i < STREAMS; i++) {
      const socket = connect(server.port, '127.0.0.1')
      socket.on('error', () => {})
      socket.write(`GET ${floodPath} HTTP/1.1\r\nHost: x\r\n\r\n`)
      socket.pause()
      clients.push(socket)
    }
    const deadline = Date.now() + 20_000
    while (opened.length < STREAMS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(opened.length, STREAMS)
    const rssBefore = memoryOf(server.pid)
    const peak = sampleRss(server.pid)

    // Another tunnel, asked again and again from another process (this one is busy flooding).
    const baseline = await probe(`${other.publicUrl}echo`, 1500)
    const during = probe(`${other.publicUrl}echo`, 0)
    t.after(() => during.stop())

    // The flood: every stream's whole credit as one-byte frames, sent as fast as the socket takes them.
    const floodStarted = performance.now()
    let sent = 0
    const frames = opened.map((id) => encodeData(id, Buffer.from('x')))
    outer: for (let round = 0; round < FRAMES_PER_STREAM; round += 256) {
      for (const frame of frames) {
        for (let k = 0; k < 256; k++) {
          if (raw.ws.readyState !== raw.ws.OPEN) break outer
          raw.ws.send(frame)
          sent++
        }
      }
      // Yield every round (and wait while the socket is full).
      do await new Promise((r) => setImmediate(r))
      while (raw.ws.bufferedAmount > 4 * MiB && raw.ws.readyState === raw.ws.OPEN)
      if (performance.now() - floodStarted > 60_000) break
    }
    // Let the server take what is in flight (or close the connection).
    const closed = await Promise.race([raw.closed, new Promise<null>((r) => setTimeout(() => r(null), 3000))])
    const floodMs = performance.now() - floodStarted
    const { latencies, statuses } = await during.stop()
    const rssPeak = peak.stop()
    const rssAfter = memoryOf(server.pid)
    const growth = rssPeak - rssBefore
    t.diagnostic(
      `flood: ${sent} one-byte frames sent in ${floodMs.toFixed(0)} ms over ${STREAMS} streams; hostile connection ${closed ? `closed by the server (${closed.code} ${closed.reason})` : 'still open'}; ` +
        `server RSS before ${(rssBefore / MiB).toFixed(1)} MiB, peak ${(rssPeak / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)}), after ${(rssAfter / MiB).toFixed(1)} MiB; ` +
        `other tunnel before the flood: p50 ${percentile(baseline.latencies, 50).toFixed(0)} ms, p99 ${percentile(baseline.latencies, 99).toFixed(0)} ms; ` +
        `during: ${latencies.length} requests, statuses ${JSON.stringify(statuses)}, p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms`,
    )
    // The bound: each stream holds at most ~2× its window (1 MiB) of response bytes, however they were
    // framed; frames its client cannot drain past the session's budget close the flooding connection.
    // Generous: 64 MiB for all six streams (before: ~650 MiB).
    assert.ok(growth < 64 * MiB, `server RSS grew ${(growth / MiB).toFixed(1)} MiB during the flood`)
    if (closed !== null) assert.match(closed.reason, /ADIT_ERR_FLOW_CONTROL/, 'only the held-frames budget closes it')
    assert.deepEqual(Object.keys(statuses), ['200'], 'the other tunnel answered every request')
    const res = await request(`${other.publicUrl}echo`)
    await res.body.text()
    assert.equal(res.statusCode, 200, 'the server lives on')
  })
})
