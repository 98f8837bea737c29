import type { Spawned } from './processes.js'

/** Anything a test starts that must be stopped even when the test fails. */
export type Stoppable = Spawned | { close(): Promise<unknown> } | { remove(): void }

/** Everything a test started, stopped in reverse order (processes with SIGKILL) by `run()` in `after`. */
export function cleanupList() {
  const stoppers: Array<() => Promise<unknown>> = []
  return {
    add<T extends Stoppable>(thing: T): T {
      if ('stop' in thing) stoppers.push(() => thing.stop('SIGKILL'))
      else if ('close' in thing) stoppers.push(() => thing.close())
      else stoppers.push(async () => thing.remove())
      return thing
    },
    async run(): Promise<void> {
      for (const stop of stoppers.reverse()) await stop().catch(() => {})
      stoppers.length = 0
    },
  }
}
