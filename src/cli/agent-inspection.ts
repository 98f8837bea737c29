/**
 * The agent CLI's inspector: where it listens (on by default, with fallback
 * ports), starting it without ever failing the agent, and replay through the
 * forwarder of the tunnel a request came through.
 */
import type { HostHeaderMode } from '../agent/config.js'
import { startAgentInspector, type AgentInspector } from '../inspector/agent-inspector.js'
import { InspectorError, InspectorErrorCode } from '../inspector/errors.js'
import type { ReplayFunction } from '../inspector/replay.js'
import type { Logger } from '../observability/logger.js'
import type { TunnelRunner } from './tunnel-runner.js'

/** The inspector's address when none is given; the next nine ports are tried if it is taken. */
export const DEFAULT_INSPECT_ADDRESS = '127.0.0.1:4040'
const DEFAULT_INSPECT_ATTEMPTS = 10

/**
 * Where the inspector listens, or null when it is off. --inspect alone (or
 * nothing: it is on by default) means 127.0.0.1:4040 with fallback ports;
 * an explicit address is used as given.
 */
export function inspectAddressFrom(flags: { inspect?: boolean | string; inspectAddr?: string }): { address: string; attempts: number } | null {
  if (flags.inspect === false) return null
  if (typeof flags.inspect === 'string') {
    const value = flags.inspect.trim()
    // ADIT_INSPECT=false / =true arrive as strings; digits are a port (0 picks a free one).
    if (/^(false|off|no)$/i.test(value)) return null
    if (value !== '' && !/^(true|on|yes)$/i.test(value)) return { address: value, attempts: 1 }
  }
  if (flags.inspectAddr !== undefined && flags.inspectAddr !== '') return { address: flags.inspectAddr, attempts: 1 }
  return { address: DEFAULT_INSPECT_ADDRESS, attempts: DEFAULT_INSPECT_ATTEMPTS }
}

/** Replay for the shared inspector: through the forwarder of the tunnel the original went through. */
export function replayThrough(runners: readonly TunnelRunner[], prefixes: ReadonlyArray<string | undefined>): ReplayFunction {
  return async (request) => {
    let index = runners.findIndex((r) => r.tunnel !== undefined && r.tunnel.id === request.tunnelId)
    if (index === -1 && runners.length === 1) index = 0
    const tunnel = runners[index]?.tunnel
    if (tunnel === undefined) {
      throw new InspectorError(
        InspectorErrorCode.REPLAY_UNAVAILABLE,
        `tunnel ${request.tunnelId ?? '?'} is not running in this agent, so its requests cannot be replayed`,
      )
    }
    const result = await tunnel.replay(request)
    const prefix = prefixes[index]
    return prefix === undefined ? result : { ...result, exchangeId: prefix + result.exchangeId }
  }
}

/**
 * Starts the inspector; on failure (every port taken, bad address) logs a
 * warning, tells `note` why, and resolves undefined: the tunnels run without it.
 */
export async function startInspection(
  address: { address: string; attempts: number },
  first: { local: string; hostHeader?: HostHeaderMode },
  replay: ReplayFunction,
  logger: Logger,
  note: (text: string) => void,
): Promise<AgentInspector | undefined> {
  try {
    return await startAgentInspector({
      address: address.address,
      portAttempts: address.attempts,
      local: first.local,
      replay,
      ...(first.hostHeader ? { hostHeader: first.hostHeader } : {}),
    })
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const tried = address.attempts > 1 ? ` (tried ${address.attempts} ports from ${address.address})` : ''
    note(`inspector not started: ${e.code === 'EADDRINUSE' ? 'address in use' : (e.code ?? 'error')}`)
    logger.warn(
      { err: e.code ?? e.message },
      `inspector not started${tried}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.message}; the agent runs without it (--inspect <host:port> picks another, --no-inspect turns it off)`,
    )
    return undefined
  }
}
