/**
 * `adit agent`'s configuration: its table (agent-table.ts) resolved by the
 * one rule, turned into validated AgentOptions, and printed back by
 * `--print-config`. Nothing here lists settings by hand.
 */
import { accessFromFlags, type TunnelAccessRequest } from '../agent/access-flags.js'
import { parseRateLimit, visitorLimitsFor, withVisitorLimits } from '../agent/visitor-limits.js'
import { applySavedLogin, loadLogin } from './saved-login.js'
import { resolveAgentOptions, type AgentOptions } from '../agent/config.js'
import type { RouteSpec } from '../agent/routes.js'
import { routesFromFlags, withCatchAll } from './route-config.js'
import { agentSettings } from './agent-table.js'
import { loadSettings } from './config-file.js'
import { describeSettings, effectiveValues, optionsFrom, type ResolvedSettings, type SettingValues } from './resolve.js'
import type { logFormats } from './server-table.js'

export { agentSettings } from './agent-table.js'

/** The settings `adit agent` reads itself rather than handing them to the tunnel. */
export interface AgentCommandValues {
  name?: string
  route?: string
  metricsAddr?: string
  inspect?: boolean | string
  inspectAddr?: string
  json: boolean
  logLevel: string
  logFormat: (typeof logFormats)[number]
  basicAuth?: string
  allowIp?: string
  requireJwt?: string
  rateLimit?: string
}

export type AgentValues = AgentCommandValues & Record<string, unknown>

export interface AgentConfig {
  resolved: ResolvedSettings
  /** Every setting's effective value, parsed (defaults filled in). */
  values: AgentValues
  options: ReturnType<typeof resolveAgentOptions>
}

/**
 * The tunnel options the values describe (routes and access rules included),
 * before defaults and checks. `set` are the values that were set rather
 * than defaulted: a `--local` that was set is the catch-all after routes.
 * `fileRoutes` is the config file's top-level `routes:` list.
 */
export function agentOptionsFrom(
  values: SettingValues,
  set: SettingValues = values,
  fileRoutes?: RouteSpec[],
): Partial<AgentOptions> & Pick<AgentOptions, 'server' | 'local'> {
  const explicitLocal = set.local as string | undefined
  const options = optionsFrom(agentSettings, values) as Partial<AgentOptions> & Pick<AgentOptions, 'server' | 'local'>
  const routes =
    routesFromFlags(values.route as string | undefined, explicitLocal) ?? (fileRoutes === undefined ? undefined : withCatchAll(fileRoutes, explicitLocal))
  if (routes !== undefined) {
    options.routes = routes
    // The origin a tunnel is shown by: --local, else its first route's.
    options.local = explicitLocal ?? routes.find((r) => r.local !== undefined)?.local ?? options.local
  }
  const access = accessFor(values, routes)
  return access === undefined ? options : { ...options, access }
}

/** The access rules a tunnel asks the server for: the flags', plus per-visitor limits (its routes', then --rate-limit). */
export function accessFor(values: SettingValues, routes: RouteSpec[] | undefined): TunnelAccessRequest | undefined {
  const rate = values.rateLimit as string | undefined
  const tunnel = rate === undefined || rate === '' ? undefined : parseRateLimit('--rate-limit / ADIT_RATE_LIMIT', rate)
  return withVisitorLimits(accessFromFlags(values as Partial<AgentCommandValues>), visitorLimitsFor(routes, tunnel))
}

/** Flags typed on the command line, environment and config file → validated agent settings (flag > env > file > default). */
export function agentConfig(cliFlags: Record<string, unknown>, env: NodeJS.ProcessEnv): AgentConfig {
  const resolved = loadSettings(agentSettings, 'agent', cliFlags, env)
  applySavedLogin(resolved, loadLogin(env))
  const values = effectiveValues(agentSettings, resolved, env) as AgentValues
  return { resolved, values, options: resolveAgentOptions(agentOptionsFrom(values, resolved.values)) }
}

/** What `adit agent --print-config` prints; `overrides` are values the command computes (the inspector's address). */
export function printableAgentConfig(config: AgentConfig, overrides: SettingValues = {}): string {
  const settings = describeSettings(agentSettings, config.resolved, config.values, overrides)
  return `${JSON.stringify({ configFile: config.resolved.file ?? null, settings }, null, 2)}\n`
}
