import { Agent, request } from 'undici'

export interface LoadResult {
  ok: number
  failed: number
  /** First few failures, for the assertion message. */
  failures: string[]
  /** Completion time (ms since start) of each failure. */
  failedAt: number[]
}

/**
 * A bounded client loop: `concurrency` workers send GETs one after another
 * until `stop()` is called, `maxRequests` were sent or `maxMs` passed —
 * whichever comes first — and count every answer that is not a 200 (or an
 * error) as a failure. Keep-alive connections, as a browser's.
 */
export function startLoad(
  url: () => string,
  options: { concurrency?: number; maxRequests?: number; maxMs?: number; timeoutMs?: number } = {},
): { stop(): Promise<LoadResult>; done: Promise<LoadResult>; readonly sent: number; readonly live: Readonly<LoadResult> } {
  const concurrency = options.concurrency ?? 4
  const maxRequests = options.maxRequests ?? 20_000
  const deadline = Date.now() + (options.maxMs ?? 30_000)
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: concurrency })
  const result: LoadResult = { ok: 0, failed: 0, failures: [], failedAt: [] }
  const started = Date.now()
  let sent = 0
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped && sent < maxRequests && Date.now() < deadline) {
      sent++
      try {
        const res = await request(url(), { dispatcher, headersTimeout: options.timeoutMs ?? 20_000, bodyTimeout: options.timeoutMs ?? 20_000 })
        const body = await res.body.text()
        if (res.statusCode === 200) result.ok++
        else {
          result.failed++
          result.failedAt.push(Date.now() - started)
          if (result.failures.length < 5) result.failures.push(`${res.statusCode} ${body.trim().slice(0, 160)}`)
        }
      } catch (error) {
        result.failed++
        result.failedAt.push(Date.now() - started)
        if (result.failures.length < 5) result.failures.push(String((error as Error).message))
      }
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(async () => {
    await dispatcher.close().catch(() => {})
    return result
  })
  return {
    stop: () => {
      stopped = true
      return done
    },
    done,
    get sent() {
      return sent
    },
    /** The counts so far, while the load runs. */
    get live() {
      return result
    },
  }
}
