/**
 * The load generator, in its own process so it does not share an event loop
 * (or, on a many-core machine, a core) with the processes it measures. It runs
 * autocannon's programmatic API and records every response's latency itself:
 * autocannon's histogram keeps whole milliseconds, too coarse for loopback.
 *
 * The window is timed here, not by autocannon, so a run can also be ended
 * early by a `stop` message (the mixed case stops when the big download ends).
 */
import autocannon from 'autocannon'
import type { EventEmitter } from 'node:events'
import type { FromLoadWorker, LoadJob, LoadResult, ToLoadWorker } from './load-protocol.js'

/** Latency samples kept per run; beyond it responses are still counted, not timed. */
const MAX_SAMPLES = 2_000_000
const latencies = new Float64Array(MAX_SAMPLES)

function send(message: FromLoadWorker): void {
  process.send?.(message)
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

let current: { id: number; finish: () => void } | undefined

function run(job: LoadJob): void {
  let ok = 0
  let non2xx = 0
  let samples = 0
  let open = true
  const onResponse = (status: number, _bytes: number, durationMs: number): void => {
    if (!open) return
    if (status < 200 || status > 299) {
      non2xx++
      return
    }
    ok++
    if (samples < MAX_SAMPLES) latencies[samples++] = durationMs
  }
  const started = performance.now()
  let ended = 0
  let snapshot = { ok: 0, non2xx: 0, samples: 0 }
  let timer: NodeJS.Timeout | undefined
  let instance: ReturnType<typeof autocannon> | undefined
  const finish = (): void => {
    if (!open) return
    open = false
    ended = performance.now()
    snapshot = { ok, non2xx, samples }
    clearTimeout(timer)
    instance?.stop()
  }
  instance = autocannon(
    {
      url: job.url,
      connections: job.connections,
      pipelining: 1,
      // A safety bound only: the window below ends the run.
      duration: job.durationSec + 5,
      timeout: 10,
      setupClient: (client: EventEmitter) => {
        client.on('response', onResponse)
      },
    },
    (error, result) => {
      finish()
      current = undefined
      if (error) {
        send({ type: 'error', id: job.id, message: error.message })
        return
      }
      const window = latencies.subarray(0, snapshot.samples).sort()
      let sum = 0
      for (let i = 0; i < window.length; i++) sum += window[i]!
      const durationSec = (ended - started) / 1000
      const out: LoadResult = {
        connections: job.connections,
        requests: snapshot.ok,
        durationSec,
        requestsPerSec: snapshot.ok / durationSec,
        p50Ms: percentile(window, 50),
        p99Ms: percentile(window, 99),
        meanMs: window.length > 0 ? sum / window.length : 0,
        non2xx: snapshot.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
      }
      send({ type: 'result', id: job.id, result: out })
    },
  )
  timer = setTimeout(finish, job.durationSec * 1000)
  current = { id: job.id, finish }
}

process.on('message', (message: ToLoadWorker) => {
  if (message.type === 'run') {
    if (current) {
      send({ type: 'error', id: message.id, message: 'a run is already in progress' })
      return
    }
    run(message)
  } else if (message.type === 'stop' && current?.id === message.id) {
    current.finish()
  }
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
