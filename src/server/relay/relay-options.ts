import { ConfigError } from '../../errors.js'

/** How a server instance takes part in a cluster: presence, the relay, bounds on cluster calls. */
export interface RelayOptions {
  /** How long a presence entry lives unless refreshed (ms). A dead instance stops being found after this. */
  presenceTtlMs: number
  /** How often this instance refreshes the entries of its tunnels (ms); well under the TTL. */
  presenceRefreshMs: number
  /** Bound on every cluster call on the request path (presence lookup, record reads) (ms): beyond it, 503. */
  callTimeoutMs: number
  /** A peer instance silent this long while relay streams are open is probed (ms); a probe nobody receives ends its streams. */
  probeAfterMs: number
  /** Period of the one housekeeping timer: health, refresh, probes (ms). */
  tickMs: number
  /** How long an instance that had no bus subscriber is skipped in presence lookups (ms). */
  goneMs: number
  /** While a request holds for a reconnecting agent, how often presence is looked up again (ms). */
  holdPollMs: number
}

export const relayDefaults: RelayOptions = {
  presenceTtlMs: 15_000,
  presenceRefreshMs: 5_000,
  callTimeoutMs: 1_000,
  probeAfterMs: 3_000,
  tickMs: 1_000,
  goneMs: 15_000,
  holdPollMs: 250,
}

/** Fills defaults and checks every option, naming the bad one (ADIT_ERR_CONFIG). */
export function resolveRelayOptions(input: Partial<RelayOptions> = {}): RelayOptions {
  const options: RelayOptions = { ...relayDefaults }
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value
  }
  for (const [name, value] of Object.entries(options)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`relay option ${name} must be a positive integer (ms), got ${String(value)}`)
    }
  }
  if (options.presenceRefreshMs >= options.presenceTtlMs) {
    throw new ConfigError(`relay option presenceRefreshMs (${options.presenceRefreshMs}) must be below presenceTtlMs (${options.presenceTtlMs})`)
  }
  return options
}
