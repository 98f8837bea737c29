/** Messages between the harness and its load-generator child (bench/load-worker.ts), over IPC. */

export interface LoadJob {
  type: 'run'
  id: number
  url: string
  connections: number
  /** The run stops by itself after this long, or earlier on a `stop` message. */
  durationSec: number
}

export interface LoadStop {
  type: 'stop'
  id: number
}

export type ToLoadWorker = LoadJob | LoadStop

/** One measured run. Latencies come from every response in the window, at sub-millisecond resolution. */
export interface LoadResult {
  connections: number
  /** Responses with a 2xx status inside the measured window. */
  requests: number
  durationSec: number
  requestsPerSec: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  non2xx: number
  errors: number
  timeouts: number
}

export type FromLoadWorker = { type: 'ready' } | { type: 'result'; id: number; result: LoadResult } | { type: 'error'; id: number; message: string }
