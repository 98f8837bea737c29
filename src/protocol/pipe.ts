import { ByteQueue } from './byte-queue.js'

/**
 * Where a pipe delivers received body bytes: a public socket, an HTTP
 * response, another stream, a Readable's intake. Node's writables fit as
 * they are.
 */
export interface PipeDestination {
  /** Takes the bytes; false once it is full (its owner then calls `Pipe.drained` when it has room again). */
  write(chunk: Buffer): boolean
  /** A destroyed destination is not written to by a batching pipe (its owner ends the exchange on 'close'). */
  readonly destroyed?: boolean
}

/** Whose credit the bytes cost: the stream they arrived on (`Stream.consumed`). */
export interface CreditSource {
  consumed(n: number): void
}

export interface PipeOptions {
  source?: CreditSource | null
  destination?: PipeDestination | null
  /**
   * Batch the destination's writes: bytes that arrive before `schedule` runs
   * its task (in production `queueMicrotask`: the frames of one socket read)
   * become one write, and while the destination is full they are held (as
   * bytes, see ByteQueue) until `drained`. Without it every chunk is written
   * as it comes.
   */
  schedule?: (task: () => void) => void
}

/**
 * The one flow-control pipe: body bytes a stream received → destination,
 * with the stream's credit returned only once the destination took them —
 * at once when `write` returned true, else when the owner reports
 * `drained()`. So a slow destination shuts the sender's window instead of
 * growing a buffer here, and a stream never holds more than its window.
 *
 * One object per stream direction, nothing allocated per chunk (a batching
 * pipe copies small chunks into ByteQueue's shared blocks). Pure: no sockets
 * and no timers; the owner wires the destination's drain signal (a 'drain'
 * event, `_read`, a stream's `onDrain`) to `drained()`.
 *
 * With no destination (a request that has no body to deliver) bytes are
 * dropped and their credit returned at once.
 */
export class Pipe {
  /** The stream whose credit the bytes cost; null: credit waits until one is set. */
  source: CreditSource | null
  destination: PipeDestination | null
  private owedBytes = 0
  private readonly queue: ByteQueue | null
  private readonly schedule: ((task: () => void) => void) | undefined
  private flushQueued = false
  private closed = false
  private readonly flushTask = (): void => {
    this.flushQueued = false
    if (this.owedBytes === 0) this.flush()
  }

  constructor(options: PipeOptions = {}) {
    this.source = options.source ?? null
    this.destination = options.destination ?? null
    this.schedule = options.schedule
    this.queue = options.schedule === undefined ? null : new ByteQueue()
  }

  /** Bytes delivered but not yet credited: the destination has not drained. */
  get owed(): number {
    return this.owedBytes
  }

  /** Bytes held for a batched write (not yet given to the destination). */
  get held(): number {
    return this.queue?.length ?? 0
  }

  /** Received body bytes (a view into their frame: copied if held, never kept as is past a batch). */
  push(chunk: Buffer): void {
    if (this.closed) return
    const queue = this.queue
    if (queue === null) {
      const destination = this.destination
      if (destination === null || destination.write(chunk)) this.source?.consumed(chunk.length)
      else this.owedBytes += chunk.length
      return
    }
    queue.push(chunk)
    // While the destination takes bytes: one write per batch. While it is full: held until `drained`.
    if (this.owedBytes === 0 && !this.flushQueued) {
      this.flushQueued = true
      this.schedule!(this.flushTask)
    }
  }

  /** Writes what a batching pipe holds now (before ending the destination). */
  flush(): void {
    const queue = this.queue
    if (queue === null || this.closed || queue.length === 0) return
    const destination = this.destination
    if (destination?.destroyed === true) return
    const n = queue.length
    if (destination === null || queue.writeTo(destination)) this.source?.consumed(n)
    else this.owedBytes += n
  }

  /** The destination has room again: the credit owed goes back, and held bytes are written. */
  drained(): void {
    const n = this.owedBytes
    if (n > 0 && this.source !== null) {
      this.owedBytes = 0
      this.source.consumed(n)
    }
    this.flush()
  }

  /** The exchange is over: held bytes are dropped, nothing more is written (credit owed is still returned on `drained`). */
  close(): void {
    this.closed = true
    this.queue?.clear()
  }
}
