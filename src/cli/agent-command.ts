import { homedir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { parseHostHeader, type AgentOptions } from '../agent/config.js'
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import { ConfigError } from '../errors.js'
import { combineObservers, startAgentInspector, type AgentInspector } from '../inspector/agent-inspector.js'
import { InspectorError, InspectorErrorCode } from '../inspector/errors.js'
import type { ReplayFunction } from '../inspector/replay.js'
import { ScopedObserver } from '../inspector/scoped-observer.js'
import { createLogger, type Logger } from '../observability/logger.js'
import { applyConfigFile, loadAgentConfigFile, stateFileFor, type AgentConfigFile, type AgentFileSettings, type ValueSource } from './agent-config-file.js'
import { parseDuration, parseInteger } from './parse.js'
import { StatusBoard } from './status-board.js'
import { TunnelRunner, type TunnelPlan } from './tunnel-runner.js'

export interface AgentFlags {
  server?: string
  local?: string
  stateFile?: string
  apiKey?: string
  connections?: string
  name?: string
  maxConnectionAge?: string
  hostHeader?: string
  localInsecure?: boolean
  json?: boolean
  /** On by default (127.0.0.1:4040, then 4041…4049 if taken); --no-inspect is false; a value is the address. */
  inspect?: boolean | string
  /** The inspector's address (the issue's spelling); same as --inspect <address>. */
  inspectAddr?: string
  /** A YAML agent config file: the flags' settings, and optionally a `tunnels:` list. */
  config?: string
  logLevel?: string
}

/** The inspector's address when none is given; the next nine ports are tried if it is taken. */
export const DEFAULT_INSPECT_ADDRESS = '127.0.0.1:4040'
const DEFAULT_INSPECT_ATTEMPTS = 10

/**
 * Where the inspector listens, or null when it is off. --inspect alone (or
 * nothing: it is on by default) means 127.0.0.1:4040 with fallback ports;
 * an explicit address is used as given.
 */
export function inspectAddressFrom(flags: Pick<AgentFlags, 'inspect' | 'inspectAddr'>): { address: string; attempts: number } | null {
  if (flags.inspect === false) return null
  if (typeof flags.inspect === 'string') {
    const value = flags.inspect.trim()
    // ADIT_INSPECT=false / =true arrive as strings; digits are a port (0 picks a free one).
    if (/^(false|off|no)$/i.test(value)) return null
    if (value !== '' && !/^(true|on|yes)$/i.test(value)) return { address: value, attempts: 1 }
  }
  if (flags.inspectAddr !== undefined) return { address: flags.inspectAddr, attempts: 1 }
  return { address: DEFAULT_INSPECT_ADDRESS, attempts: DEFAULT_INSPECT_ATTEMPTS }
}


export function agentOptionsFromFlags(flags: AgentFlags): Partial<AgentOptions> & Pick<AgentOptions, 'server' | 'local'> {
  return {
    server: flags.server ?? 'http://127.0.0.1:8080',
    local: flags.local ?? 'http://127.0.0.1:3000',
    stateFile: flags.stateFile === 'none' ? null : (flags.stateFile ?? join(homedir(), '.config', 'adit', 'agent-state.json')),
    apiKey: flags.apiKey,
    ...(flags.connections !== undefined ? { connections: parseInteger('--connections / ADIT_CONNECTIONS', flags.connections) } : {}),
    ...(flags.hostHeader !== undefined ? { hostHeader: parseHostHeader(flags.hostHeader) } : {}),
    localInsecure: flags.localInsecure === true,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.maxConnectionAge !== undefined ? { maxConnectionAgeMs: parseDuration('--max-connection-age / ADIT_MAX_CONNECTION_AGE', flags.maxConnectionAge) } : {}),
  }
}

/** One line per event on stdout, for scripts: `ready`, then one per finished request. */
function jsonPrinter(write: (line: string) => void, name: string | undefined): ExchangeObserver {
  const starts = new Map<string, { method: string; path: string }>()
  return {
    onRequest(start) {
      starts.set(start.id, { method: start.method, path: start.path })
    },
    onEnd(end) {
      const start = starts.get(end.id)
      starts.delete(end.id)
      write(
        JSON.stringify({
          event: 'request',
          ...(name !== undefined ? { name } : {}),
          method: start?.method,
          path: start?.path,
          status: end.status,
          bytes: end.responseBytes,
          request_bytes: end.requestBytes,
          ms: end.durationMs,
          ...(end.error ? { error: end.error } : {}),
        }),
      )
    },
  }
}

/** The tunnels to run: one from the flags, or one per entry of the config file's `tunnels:` list. */
export function tunnelPlans(flags: AgentFlags, file: AgentConfigFile | undefined): TunnelPlan[] {
  const base = agentOptionsFromFlags(flags)
  if (file?.tunnels === undefined) return [{ name: flags.name, options: base, access: undefined }]
  const plans = file.tunnels.map((entry): TunnelPlan => {
    const options: TunnelPlan['options'] = {
      ...base,
      local: entry.local,
      stateFile: stateFileFor(entry, file.stateDir),
      localInsecure: entry.localInsecure === true,
      ...(entry.hostHeader !== undefined ? { hostHeader: entry.hostHeader } : {}),
      ...(entry.name !== undefined ? { name: entry.name } : {}),
    }
    if (entry.hostHeader === undefined) delete options.hostHeader
    if (entry.name === undefined) delete options.name
    return { name: entry.name, options, access: entry.access }
  })
  const seen = new Map<string, number>()
  for (const [i, plan] of plans.entries()) {
    const stateFile = plan.options.stateFile
    if (stateFile === null || stateFile === undefined) continue
    const other = seen.get(stateFile)
    if (other !== undefined) throw new ConfigError(`config file ${file.path}: tunnels[${other}] and tunnels[${i}] would share the state file ${stateFile}; give them different names or state_file`)
    seen.set(stateFile, i)
  }
  return plans
}

/** Replay for the shared inspector: through the forwarder of the tunnel the original went through. */
function replayThrough(runners: TunnelRunner[], prefixes: Array<string | undefined>): ReplayFunction {
  return async (request) => {
    let index = runners.findIndex((r) => r.tunnel !== undefined && r.tunnel.id === request.tunnelId)
    if (index === -1 && runners.length === 1) index = 0
    const tunnel = runners[index]?.tunnel
    if (tunnel === undefined) {
      throw new InspectorError(InspectorErrorCode.REPLAY_UNAVAILABLE, `tunnel ${request.tunnelId ?? '?'} is not running in this agent, so its requests cannot be replayed`)
    }
    const result = await tunnel.replay(request)
    const prefix = prefixes[index]
    return prefix === undefined ? result : { ...result, exchangeId: prefix + result.exchangeId }
  }
}

async function startInspection(
  address: { address: string; attempts: number },
  plans: TunnelPlan[],
  replay: ReplayFunction,
  logger: Logger,
  note: (text: string) => void,
): Promise<AgentInspector | undefined> {
  const first = plans[0]!.options
  try {
    return await startAgentInspector({
      address: address.address,
      portAttempts: address.attempts,
      local: first.local,
      replay,
      ...(first.hostHeader ? { hostHeader: first.hostHeader } : {}),
    })
  } catch (error) {
    // The inspector is a convenience: the tunnels run without it.
    const e = error as NodeJS.ErrnoException
    const tried = address.attempts > 1 ? ` (tried ${address.attempts} ports from ${address.address})` : ''
    note(`inspector not started: ${e.code === 'EADDRINUSE' ? 'address in use' : (e.code ?? 'error')}`)
    logger.warn({ err: e.code ?? e.message }, `inspector not started${tried}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.message}; the agent runs without it (--inspect <host:port> picks another, --no-inspect turns it off)`)
    return undefined
  }
}

/**
 * `adit agent`: runs one tunnel (from flags) or several (a config file's
 * `tunnels:`), shows their status, serves the inspector, and runs until
 * SIGTERM/SIGINT. `sourceOf` says whether a flag came from the command line
 * or the environment, which both beat the config file.
 */
export async function runAgent(input: AgentFlags, sourceOf: (flag: keyof AgentFileSettings) => ValueSource = () => undefined): Promise<void> {
  const file = input.config === undefined ? undefined : await loadAgentConfigFile(input.config)
  const flags = file === undefined ? input : applyConfigFile(input, sourceOf, file)
  const plans = tunnelPlans(flags, file)
  const several = file?.tunnels !== undefined
  const json = flags.json === true
  const tty = !json && process.stdout.isTTY === true
  // On a TTY the table is redrawn in place and shows states and last errors itself: log lines
  // would tear it, so only errors are logged there unless --log-level asks for more.
  const level = flags.logLevel ?? (tty ? 'error' : 'info')
  // Logs go to stderr so stdout carries only what the user asked for.
  const logger = createLogger({ name: 'adit-agent', level, destination: pino.destination({ dest: 2, sync: false }) })
  const write = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }

  const runners: TunnelRunner[] = []
  // Several tunnels share one inspector log: each one's exchange ids get a prefix so they stay unique.
  const prefixes = plans.map((_, i) => (several ? `${i + 1}:` : undefined))
  const address = inspectAddressFrom(flags)
  const inspectorNote: string[] = []
  const inspection = address === null ? undefined : await startInspection(address, plans, replayThrough(runners, prefixes), logger, (note) => inspectorNote.push(note))
  const writeJson = json
    ? (event: Record<string, unknown>) => write(JSON.stringify(event.event === 'ready' && inspection ? { ...event, inspector_url: inspection.url } : event))
    : undefined
  const board = json
    ? undefined
    : new StatusBoard(process.stdout, {
        several,
        header: () => [`adit agent · ${inspection ? `inspector ${inspection.url}` : (inspectorNote[0] ?? 'no inspector')} · Ctrl-C to stop`, ''],
      })
  if (board !== undefined && !board.inPlace && inspection) write(`adit: inspector on ${inspection.url}`)

  let fail: (error: Error) => void = () => {}
  const failed = new Promise<never>((_, reject) => {
    fail = reject
  })
  failed.catch(() => {})
  for (const [i, plan] of plans.entries()) {
    const prefix = prefixes[i]
    const logObserver = inspection === undefined ? undefined : prefix === undefined ? inspection.log : new ScopedObserver(prefix, inspection.log)
    const observer = combineObservers(json ? jsonPrinter(write, several ? (plan.name ?? plan.options.local) : undefined) : undefined, logObserver)
    runners.push(
      new TunnelRunner(plan, {
        logger,
        observer,
        status: board?.add({ label: plan.name ?? plan.options.local, local: plan.options.local, state: 'connecting' }),
        json: writeJson,
        retry: several,
        onUrl: (url) => {
          if (!several) inspection?.setPublicUrl(url)
        },
        onFatal: (error) => {
          if (!several) fail(error)
        },
      }),
    )
  }
  if (several) {
    for (const plan of plans) {
      if (plan.access !== undefined) logger.warn({ tunnel: plan.name ?? plan.options.local }, 'access rules (basic_auth, allow_ip, require_jwt) are checked but not yet sent: this server version takes none at registration')
    }
  }

  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  try {
    // A single tunnel that cannot start stops the agent (exit code 2); several start side by side and retry.
    await Promise.all(runners.map((r) => r.start()))
    await Promise.race([stopped, failed])
  } finally {
    await Promise.all(runners.map((r) => r.close()))
    board?.close()
    await inspection?.close()
    logger.flush()
  }
}
