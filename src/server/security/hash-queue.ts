/**
 * Bounded, fair work queue for password hashes (scrypt). At most
 * `concurrency` hashes run at once, so libuv's thread pool (4 threads by
 * default, shared with DNS, files and zlib) always has room for everything
 * else. Waiting work is queued per key (a tunnel id) and taken round-robin,
 * so a flood on one tunnel waits behind itself, not in front of another
 * tunnel's first visitor. A key may hold `maxQueuedPerKey` waiting jobs and
 * the queue `maxQueued` in all; beyond that `run` answers `null` at once
 * (the caller says 503 + Retry-After): backpressure, never an unbounded queue.
 */

export interface HashQueueOptions {
  /** Hashes running at once. */
  concurrency: number
  /** Jobs waiting, over all keys. */
  maxQueued: number
  /** Jobs waiting for one key. */
  maxQueuedPerKey: number
}

export const hashQueueDefaults: HashQueueOptions = { concurrency: 2, maxQueued: 64, maxQueuedPerKey: 4 }

interface Job {
  work: () => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

export function validateHashQueueOptions(input: Partial<HashQueueOptions>): HashQueueOptions {
  const options = { ...hashQueueDefaults, ...input }
  for (const key of ['concurrency', 'maxQueued', 'maxQueuedPerKey'] as const) {
    const value = options[key]
    const min = key === 'concurrency' ? 1 : 0
    if (!Number.isInteger(value) || value < min) throw new RangeError(`hashQueue.${key} must be an integer ≥ ${min}, got ${String(value)}`)
  }
  return options
}

export class HashQueue {
  private readonly options: HashQueueOptions
  /** Waiting jobs per key; Map order is the round-robin order. */
  private readonly waiting = new Map<string, Job[]>()
  private queued = 0
  private running = 0
  /** Jobs started so far (tests, metrics). */
  started = 0
  /** Jobs refused because the queue was full. */
  refused = 0

  constructor(input: Partial<HashQueueOptions> = {}) {
    this.options = validateHashQueueOptions(input)
  }

  /** Runs `work` when a slot is free; null (and `work` never runs) when the queue is full. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> | null {
    if (this.running < this.options.concurrency && this.queued === 0) return this.start(work)
    const jobs = this.waiting.get(key)
    if (this.queued >= this.options.maxQueued || (jobs?.length ?? 0) >= this.options.maxQueuedPerKey) {
      this.refused++
      return null
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = { work, resolve: resolve as (value: unknown) => void, reject }
      if (jobs === undefined) this.waiting.set(key, [job])
      else jobs.push(job)
      this.queued++
    })
  }

  get pending(): { running: number; queued: number } {
    return { running: this.running, queued: this.queued }
  }

  private start<T>(work: () => Promise<T>): Promise<T> {
    this.running++
    this.started++
    let result: Promise<T>
    try {
      result = work()
    } catch (error) {
      result = Promise.reject(error)
    }
    return result.finally(() => {
      this.running--
      this.next()
    })
  }

  private next(): void {
    while (this.running < this.options.concurrency && this.queued > 0) {
      const [key, jobs] = this.waiting.entries().next().value as [string, Job[]]
      const job = jobs.shift()!
      this.queued--
      // Round-robin: the key goes to the back of the line (or leaves it).
      this.waiting.delete(key)
      if (jobs.length > 0) this.waiting.set(key, jobs)
      this.start(job.work).then(job.resolve, job.reject)
    }
  }
}
