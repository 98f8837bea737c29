/**
 * The harness's side of the load generator: one long-lived child
 * (bench/load-worker.js) that runs one job at a time.
 */
import { fileURLToPath } from 'node:url'
import type { Child, ChildSet } from './children.js'
import type { FromLoadWorker, LoadResult, ToLoadWorker } from './load-protocol.js'

export class LoadGeneratorError extends Error {
  readonly code = 'ADIT_ERR_BENCH_LOAD'
  constructor(message: string) {
    super(message)
    this.name = 'LoadGeneratorError'
  }
}

/** Slack past a job's own duration before the harness gives up on the worker. */
const RESULT_GRACE_MS = 15_000

export interface RunningLoad {
  /** Ends the run now; the result then covers the window until this call. */
  stop(): void
  result: Promise<LoadResult>
}

export class LoadGenerator {
  private nextId = 1

  private constructor(private readonly child: Child) {}

  static async start(children: ChildSet): Promise<LoadGenerator> {
    const script = fileURLToPath(new URL('./load-worker.js', import.meta.url))
    const child = children.fork('load generator', script)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LoadGeneratorError('load generator did not start in 10 s')), 10_000)
      child.process.once('message', (message: FromLoadWorker) => {
        clearTimeout(timer)
        if (message.type === 'ready') resolve()
        else reject(new LoadGeneratorError(`unexpected first message ${message.type}`))
      })
      void child.exited.then(() => reject(new LoadGeneratorError(`load generator exited:\n${child.tail()}`)))
    })
    return new LoadGenerator(child)
  }

  /** Starts a run of `connections` keep-alive connections against `url` for at most `durationSec`. */
  begin(url: string, connections: number, durationSec: number): RunningLoad {
    const id = this.nextId++
    const child = this.child
    const result = new Promise<LoadResult>((resolve, reject) => {
      const onMessage = (message: FromLoadWorker): void => {
        if (message.type === 'ready' || message.id !== id) return
        done()
        if (message.type === 'result') resolve(message.result)
        else reject(new LoadGeneratorError(message.message))
      }
      const timer = setTimeout(
        () => {
          done()
          reject(new LoadGeneratorError(`no result for ${url} within ${durationSec} s + grace`))
        },
        durationSec * 1000 + RESULT_GRACE_MS,
      )
      const done = (): void => {
        clearTimeout(timer)
        child.process.off('message', onMessage)
      }
      child.process.on('message', onMessage)
      const job: ToLoadWorker = { type: 'run', id, url, connections, durationSec }
      child.process.send(job)
    })
    return {
      stop: () => {
        const stop: ToLoadWorker = { type: 'stop', id }
        if (child.process.connected) child.process.send(stop)
      },
      result,
    }
  }

  run(url: string, connections: number, durationSec: number): Promise<LoadResult> {
    return this.begin(url, connections, durationSec).result
  }
}
