/**
 * The part of autocannon's programmatic API the load worker uses. autocannon
 * ships no types; this declares only what bench/load-worker.ts touches.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  interface AutocannonOptions {
    url: string
    connections?: number
    duration?: number
    amount?: number
    pipelining?: number
    method?: string
    timeout?: number
    headers?: Record<string, string>
    /** Called once per HTTP client; the client emits 'response'(status, bytes, durationMs). */
    setupClient?: (client: EventEmitter) => void
  }

  interface AutocannonResult {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    requests: { total: number; average: number; sent: number }
    throughput: { total: number }
    latency: { p50: number; p99: number; average: number }
  }

  interface AutocannonInstance extends EventEmitter {
    stop(): void
  }

  function autocannon(options: AutocannonOptions, callback: (error: Error | null, result: AutocannonResult) => void): AutocannonInstance

  export default autocannon
}
