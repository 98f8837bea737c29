/**
 * `adit server`'s configuration: its table (server-table.ts) resolved by the
 * one rule, turned into validated ServerOptions, and printed back by
 * `--print-config`. Nothing here lists settings by hand.
 */
import { resolveServerOptions, type ServerOptions } from '../server/config.js'
import { loadSettings } from './config-file.js'
import { describeSettings, effectiveValues, optionsFrom, type ResolvedSettings } from './resolve.js'
import { serverSettings, type logFormats } from './server-table.js'

export { serverSettings } from './server-table.js'

/** The settings `adit server` reads itself rather than handing them to startServer. */
export interface ServerCommandValues {
  store: 'sqlite' | 'memory'
  dataDir?: string
  sqliteDriver: 'auto' | 'better-sqlite3' | 'node:sqlite'
  redisUrl?: string
  redisPrefix: string
  instanceId?: string
  tlsCert?: string
  tlsKey?: string
  logLevel: string
  logFormat: (typeof logFormats)[number]
}

export interface ServerConfig {
  resolved: ResolvedSettings
  /** Every setting's effective value, parsed (defaults filled in). */
  values: ServerCommandValues & Record<string, unknown>
  options: ServerOptions
}

/**
 * Flags (only those typed on the command line), environment and config file
 * → validated server options, by the one precedence rule. Throws ConfigError
 * naming the setting.
 */
export function serverConfig(cliFlags: Record<string, unknown>, env: NodeJS.ProcessEnv): ServerConfig {
  const resolved = loadSettings(serverSettings, 'server', cliFlags, env)
  const values = effectiveValues(serverSettings, resolved, env) as ServerConfig['values']
  const input = optionsFrom(serverSettings, values) as Partial<ServerOptions> & { security?: Record<string, unknown> }
  input.security = { ...input.security, cloudRunService: env.K_SERVICE === undefined || env.K_SERVICE === '' ? undefined : env.K_SERVICE }
  return { resolved, values, options: resolveServerOptions(input) }
}

/** What `adit server --print-config` prints: every setting, its effective value and where it came from. */
export function printableServerConfig(config: ServerConfig): string {
  const settings = describeSettings(serverSettings, config.resolved, config.values)
  return `${JSON.stringify({ configFile: config.resolved.file ?? null, settings }, null, 2)}\n`
}
