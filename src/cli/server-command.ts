import { startServer, type RunningServer } from '../server/server.js'
import { resolveServerOptions, type ServerOptions } from '../server/config.js'
import { createLogger } from '../observability/logger.js'
import { ConfigError } from '../errors.js'
import { clusterOptionsFromEnv, createCluster, redactRedisUrl, type Cluster } from '../cluster/index.js'
import { describeSettings, loadSettings, type ResolvedSettings } from './config-file.js'
import { parseBoolean, parseBytes, parseDuration, parseInteger } from './parse.js'
import { securityOptionsFromFlags, type SecurityFlags } from './security-flags.js'
import { serverSettings } from './settings.js'

/** Flags of `adit server`, as commander hands them over (strings, env already applied). */
export interface ServerFlags extends SecurityFlags {
  port?: string
  host?: string
  publicBaseUrl?: string
  signingKey?: string
  responseTimeout?: string
  maxHeaderBytes?: string
  trustProxy?: string
  drainTimeout?: string
  adminToken?: string
  logLevel?: string
  headersTimeout?: string
  keepAliveTimeout?: string
  maxFrameBytes?: string
  maxJsonBody?: string
  heartbeat?: string
  h2c?: boolean
  serviceTimeout?: string
  publicHostSuffix?: string
  holdTimeout?: string
  holdWindow?: string
  metrics?: string
  metricsToken?: string
  traceProject?: string
  logFormat?: string
  redisUrl?: string
  redisPrefix?: string
  instanceId?: string
  /** `--config <file>` / ADIT_CONFIG: a JSON or YAML file of settings. */
  config?: string
  /** Print the effective configuration (secrets redacted) and exit. */
  printConfig?: boolean
}

/** Cloud Run's request timeout when the service was deployed without `--timeout`. */
export const CLOUD_RUN_DEFAULT_TIMEOUT_MS = 300_000

/** Turns flags into server options; each value is checked and a bad one is named. */
export function serverOptionsFromFlags(flags: ServerFlags, env: NodeJS.ProcessEnv): Partial<ServerOptions> {
  const options: Partial<ServerOptions> = {}
  if (flags.port !== undefined) options.port = parseInteger('--port / PORT', flags.port)
  if (flags.host !== undefined) options.host = flags.host
  if (flags.publicBaseUrl !== undefined && flags.publicBaseUrl !== '') options.publicBaseUrl = flags.publicBaseUrl
  if (flags.signingKey !== undefined && flags.signingKey !== '')
    options.signingKeys = flags.signingKey
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean)
  if (flags.responseTimeout !== undefined) options.responseTimeoutMs = parseDuration('--response-timeout / ADIT_RESPONSE_TIMEOUT', flags.responseTimeout)
  if (flags.maxHeaderBytes !== undefined) options.maxHeaderBytes = parseBytes('--max-header-bytes / ADIT_MAX_HEADER_BYTES', flags.maxHeaderBytes)
  if (flags.drainTimeout !== undefined) options.drainTimeoutMs = parseDuration('--drain-timeout / ADIT_DRAIN_TIMEOUT', flags.drainTimeout)
  if (flags.headersTimeout !== undefined) options.headersTimeoutMs = parseDuration('--headers-timeout / ADIT_HEADERS_TIMEOUT', flags.headersTimeout)
  if (flags.keepAliveTimeout !== undefined) options.keepAliveTimeoutMs = parseDuration('--keep-alive-timeout / ADIT_KEEP_ALIVE_TIMEOUT', flags.keepAliveTimeout)
  if (flags.maxFrameBytes !== undefined) options.maxFrameBytes = parseBytes('--max-frame-bytes / ADIT_MAX_FRAME_BYTES', flags.maxFrameBytes)
  if (flags.maxJsonBody !== undefined) options.maxJsonBodyBytes = parseBytes('--max-json-body / ADIT_MAX_JSON_BODY', flags.maxJsonBody)
  if (flags.heartbeat !== undefined) options.heartbeatMs = parseDuration('--heartbeat / ADIT_HEARTBEAT', flags.heartbeat)
  if (flags.publicHostSuffix !== undefined && flags.publicHostSuffix !== '') options.publicHostSuffix = flags.publicHostSuffix
  if (flags.holdTimeout !== undefined) options.holdTimeoutMs = parseDuration('--hold-timeout / ADIT_HOLD_TIMEOUT', flags.holdTimeout)
  if (flags.holdWindow !== undefined) options.holdWindowMs = parseDuration('--hold-window / ADIT_HOLD_WINDOW', flags.holdWindow)
  if (flags.h2c !== undefined) options.h2c = flags.h2c
  if (flags.metrics !== undefined) options.metrics = parseBoolean('--metrics / ADIT_METRICS', flags.metrics)
  if (flags.metricsToken !== undefined && flags.metricsToken !== '') options.metricsToken = flags.metricsToken
  if (flags.traceProject !== undefined && flags.traceProject !== '') options.traceProject = flags.traceProject
  if (flags.adminToken !== undefined && flags.adminToken !== '') options.adminToken = flags.adminToken
  // Behind Cloud Run's front end the peer is always Google's proxy.
  options.trustProxy = flags.trustProxy !== undefined ? parseBoolean('--trust-proxy / ADIT_TRUST_PROXY', flags.trustProxy) : env.K_SERVICE !== undefined
  // Cloud Run's default request timeout is 300 s; a deploy with another --timeout sets ADIT_SERVICE_TIMEOUT.
  if (flags.serviceTimeout !== undefined) options.serviceTimeoutMs = parseDuration('--service-timeout / ADIT_SERVICE_TIMEOUT', flags.serviceTimeout)
  else if (env.K_SERVICE !== undefined) options.serviceTimeoutMs = CLOUD_RUN_DEFAULT_TIMEOUT_MS
  options.security = securityOptionsFromFlags(flags, env)
  return options
}

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
const logFormats = ['json', 'pretty', 'auto'] as const

/** Checks the logging settings the logger would otherwise reject less helpfully. */
export function checkLogSettings(logLevel: string | undefined, logFormat: string | undefined): { level?: string; format?: (typeof logFormats)[number] } {
  if (logLevel !== undefined && !logLevels.includes(logLevel))
    throw new ConfigError(`--log-level / LOG_LEVEL must be one of ${logLevels.join(', ')}, got ${JSON.stringify(logLevel)}`)
  if (logFormat !== undefined && !(logFormats as readonly string[]).includes(logFormat)) {
    throw new ConfigError(`--log-format / ADIT_LOG_FORMAT must be one of ${logFormats.join(', ')}, got ${JSON.stringify(logFormat)}`)
  }
  return { ...(logLevel === undefined ? {} : { level: logLevel }), ...(logFormat === undefined ? {} : { format: logFormat as (typeof logFormats)[number] }) }
}

/**
 * Flags (only those typed on the command line), environment and config file
 * → validated server options, by the one precedence rule. Throws ConfigError
 * naming the setting.
 */
export function serverConfig(cliFlags: ServerFlags, env: NodeJS.ProcessEnv): { flags: ServerFlags; resolved: ResolvedSettings; options: ServerOptions } {
  const resolved = loadSettings(serverSettings, 'server', cliFlags as Record<string, unknown>, env)
  const flags = { ...cliFlags, ...resolved.values } as ServerFlags
  checkLogSettings(flags.logLevel, flags.logFormat)
  const options = resolveServerOptions(serverOptionsFromFlags(flags, env))
  return { flags, resolved, options }
}

/** What `adit server --print-config` prints: every setting, its effective value and where it came from. */
export function printableServerConfig(config: ReturnType<typeof serverConfig>): string {
  const { options, flags } = config
  const effective: Record<string, unknown> = {
    port: options.port,
    host: options.host,
    publicBaseUrl: options.publicBaseUrl,
    publicHostSuffix: options.publicHostSuffix,
    holdTimeout: `${options.holdTimeoutMs}ms`,
    holdWindow: `${options.holdWindowMs}ms`,
    signingKey: options.signingKeys.length > 0 ? options.signingKeys : undefined,
    responseTimeout: `${options.responseTimeoutMs}ms`,
    headersTimeout: `${options.headersTimeoutMs}ms`,
    keepAliveTimeout: `${options.keepAliveTimeoutMs}ms`,
    maxHeaderBytes: options.maxHeaderBytes,
    maxFrameBytes: options.maxFrameBytes,
    maxJsonBody: options.maxJsonBodyBytes,
    heartbeat: `${options.heartbeatMs}ms`,
    trustProxy: options.trustProxy,
    drainTimeout: `${options.drainTimeoutMs}ms`,
    h2c: options.h2c,
    serviceTimeout: options.serviceTimeoutMs === undefined ? undefined : `${options.serviceTimeoutMs}ms`,
    metrics: options.metrics,
    metricsToken: options.metricsToken,
    adminToken: options.adminToken,
    traceProject: options.traceProject,
    apiKeys: flags.apiKeys,
    jwtSecret: flags.jwtSecret,
    jwksUrl: flags.jwksUrl,
    jwtIssuer: flags.jwtIssuer,
    jwtAudience: flags.jwtAudience,
    allowHttpJwks: options.security?.allowHttpJwks ?? false,
    allowOpenRegistration: options.security?.allowOpenRegistration ?? false,
    registerRate: flags.registerRate,
    maxTunnelsPerKey: options.security?.maxTunnelsPerKey,
    maxStreamsPerTunnel: options.security?.maxStreamsPerTunnel,
    tunnelRate: flags.tunnelRate,
    idleTtl: options.security?.idleTtlMs === undefined ? undefined : `${options.security.idleTtlMs}ms`,
    rotationGrace: options.security?.rotationGraceMs === undefined ? undefined : `${options.security.rotationGraceMs}ms`,
    authFreeFailures: options.security?.authFreeFailures,
    authMaxBackoff: options.security?.authMaxBackoffMs === undefined ? undefined : `${options.security.authMaxBackoffMs}ms`,
    authHashConcurrency: options.security?.hashConcurrency,
    redisUrl: flags.redisUrl,
    redisPrefix: flags.redisPrefix,
    instanceId: flags.instanceId,
    logLevel: flags.logLevel ?? 'info',
    logFormat: flags.logFormat ?? 'auto',
  }
  return `${JSON.stringify({ configFile: config.resolved.file ?? null, settings: describeSettings(serverSettings, config.resolved, effective) }, null, 2)}\n`
}

/** `adit server`: runs until SIGTERM/SIGINT, then drains (GOAWAY to agents) and resolves. */
export async function runServer(cliFlags: ServerFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = serverConfig(cliFlags, env)
  if (cliFlags.printConfig) {
    process.stdout.write(printableServerConfig(config))
    return
  }
  const { flags } = config
  const logger = createLogger({ name: 'adit-server', ...checkLogSettings(flags.logLevel, flags.logFormat) })
  // REDIS_URL: share tunnels with every instance on the same Redis (docs/cluster.md).
  const clusterOptions = clusterOptionsFromEnv({ REDIS_URL: flags.redisUrl, ADIT_REDIS_PREFIX: flags.redisPrefix, ADIT_INSTANCE_ID: flags.instanceId })
  let cluster: Cluster | undefined
  let server: RunningServer | undefined
  if (clusterOptions.redisUrl !== undefined) {
    const redis = redactRedisUrl(clusterOptions.redisUrl)
    let outage = false
    cluster = await createCluster({
      ...clusterOptions,
      onError: (error) => logger.debug({ err: (error as Error).message }, 'cluster error'),
      onHealthChange: (healthy) => {
        if (!healthy && !outage) logger.warn({ redis }, 'cluster store unreachable; reconnecting')
        if (healthy && outage) logger.info({ redis }, 'cluster store reachable again')
        outage = !healthy
        // An outage shorter than the relay's timer tick must still end its streams and re-announce.
        server?.relay?.noteHealth(healthy)
      },
    })
    logger.info({ redis, instance: cluster.bus.instanceId }, 'cluster: sharing tunnels through Redis')
  }
  try {
    server = await startServer({ ...config.options, logger, cluster })
  } catch (error) {
    await cluster?.close()
    throw error
  }
  const running = server
  logger.info(
    { url: running.url, port: running.port, revision: env.K_REVISION, h2c: config.options.h2c, ...(cluster ? { instance: cluster.bus.instanceId } : {}) },
    'listening',
  )
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: draining streams and sending GOAWAY to agents')
      running.close().then(resolve, resolve)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  await cluster?.close()
  logger.info('stopped')
  logger.flush()
}
