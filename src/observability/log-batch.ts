import pino from 'pino'

/**
 * Bytes of log lines gathered before one write: about 150 access lines, so
 * under load the 100 ms flush, not the size, sets the pace — ten
 * thread-pool round trips a second whatever the request rate (4 KiB made it
 * one per ten requests: ~0.3 writes and ~1 futex wake per request, counted
 * with strace -c). Writes of up to 64 KiB fit a pipe's default capacity.
 */
export const LOG_BATCH_BYTES = 60 * 1024
/** Longest a buffered line waits for its write. */
export const LOG_FLUSH_MS = 100

/** Batches whose lines must still leave synchronously when the process exits. */
const open = new Set<LogBatch>()
let exitHookSet = false

/**
 * A pino destination that gathers lines and hands them to an asynchronous
 * sonic-boom as one string per batch: one write (one thread-pool round
 * trip) per LOG_BATCH_BYTES or per LOG_FLUSH_MS, rather than one per line.
 *
 * sonic-boom's own `minLength` batching does the same but measures the
 * string it accumulates with Buffer.byteLength on every line, which
 * flattens and walks up to 60 KiB each time: ~10 µs a line, more than
 * building the line (measured in-process, 100,000 700-byte lines to
 * /dev/null). Here a line costs an array push.
 */
export class LogBatch {
  private lines: string[] = []
  /** UTF-16 units gathered: bytes for the ASCII lines logs are, a bound close enough otherwise. */
  private size = 0
  private timer: NodeJS.Timeout | undefined
  private readonly out: pino.DestinationStream & { flushSync(): void }
  private readonly flushTask = (): void => this.flush()

  constructor(fd: number) {
    if (!exitHookSet) {
      exitHookSet = true
      // Registered before pino.destination registers its own hooks, so these run first: when the
      // loop empties, what is gathered joins the writer before pino flushes and ends it; at exit
      // (process.exit included) it is written synchronously.
      process.on('beforeExit', () => {
        for (const batch of open) batch.flush()
      })
      process.on('exit', () => {
        for (const batch of open) batch.flushSync()
      })
    }
    this.out = pino.destination({ dest: fd, sync: false })
    open.add(this)
  }

  write(line: string): void {
    this.lines.push(line)
    this.size += line.length
    if (this.size >= LOG_BATCH_BYTES) this.flush()
    else this.timer ??= setTimeout(this.flushTask, LOG_FLUSH_MS).unref()
  }

  /** Hands what is gathered to the asynchronous writer. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.lines.length === 0) return
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('')
    this.lines = []
    this.size = 0
    this.out.write(text)
  }

  /** Writes everything, gathered or in flight, before returning. */
  flushSync(): void {
    try {
      this.flush()
      this.out.flushSync()
    } catch {
      // The writer was ended or its reader is gone: nothing more can be done at exit.
    }
  }
}
