/** What every case receives: options, the processes under test, the load generator, a progress log. */
import type { ChildSet } from './children.js'
import type { Figure } from './figures.js'
import type { LoadGenerator } from './load-client.js'
import type { BenchOptions } from './options.js'
import type { AditAgent, AditLaunch, AditServer, LocalService } from './processes.js'

export interface TunnelUnderTest {
  server: AditServer
  agent: AditAgent
  /** `<public_url>`, ending in '/': paths of the local service are appended to it. */
  base: string
}

/** A relay measured beside the direct path: the two references and adit. */
export interface Relay {
  name: 'limit' | 'floor' | 'adit'
  /** Public URL ending in '/': paths of the local service are appended to it. */
  base: string
  /** The relay's own processes (public side first, then private side): their CPU and RSS are its cost. */
  pids: number[]
}

export interface BenchContext {
  options: BenchOptions
  children: ChildSet
  load: LoadGenerator
  local: LocalService
  /** The local service's own URL, ending in '/'. */
  directBase: string
  /** How the adit processes are started (build, profiling). */
  launch: AditLaunch
  /** undefined when the tunnel is not available (see `tunnelProblem`). */
  tunnel: TunnelUnderTest | undefined
  tunnelProblem: string | undefined
  /** limit, floor, then adit (when measured), started once and run beside the direct path in every case. */
  relays: Relay[]
  /** Progress lines, to stderr: the table on stdout stays clean. */
  log(message: string): void
}

/** What a case hands back: figures for the table, and raw measurements for the JSON. */
export interface CaseResult {
  figures: Figure[]
  details: Record<string, unknown>
}
