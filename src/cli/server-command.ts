import { startServer, type RunningServer } from '../server/server.js'
import type { ServerOptions } from '../server/config.js'
import { createLogger } from '../observability/logger.js'
import { clusterOptionsFromEnv, createCluster, redactRedisUrl, type Cluster } from '../cluster/index.js'
import { parseBoolean, parseBytes, parseDuration, parseInteger } from './parse.js'

/** Flags of `adit server`, as commander hands them over (strings, env already applied). */
export interface ServerFlags {
  port?: string
  host?: string
  publicBaseUrl?: string
  signingKey?: string
  responseTimeout?: string
  maxHeaderBytes?: string
  trustProxy?: string
  drainTimeout?: string
  holdTimeout?: string
  publicHostSuffix?: string
  logLevel?: string
}

/** Turns flags into server options; each value is checked and a bad one is named. */
export function serverOptionsFromFlags(flags: ServerFlags, env: NodeJS.ProcessEnv): Partial<ServerOptions> {
  const options: Partial<ServerOptions> = {}
  if (flags.port !== undefined) options.port = parseInteger('--port / PORT', flags.port)
  if (flags.host !== undefined) options.host = flags.host
  if (flags.publicBaseUrl !== undefined && flags.publicBaseUrl !== '') options.publicBaseUrl = flags.publicBaseUrl
  if (flags.signingKey !== undefined && flags.signingKey !== '') options.signingKeys = flags.signingKey.split(',').map((k) => k.trim()).filter(Boolean)
  if (flags.responseTimeout !== undefined) options.responseTimeoutMs = parseDuration('--response-timeout / ADIT_RESPONSE_TIMEOUT', flags.responseTimeout)
  if (flags.maxHeaderBytes !== undefined) options.maxHeaderBytes = parseBytes('--max-header-bytes / ADIT_MAX_HEADER_BYTES', flags.maxHeaderBytes)
  if (flags.drainTimeout !== undefined) options.drainTimeoutMs = parseDuration('--drain-timeout / ADIT_DRAIN_TIMEOUT', flags.drainTimeout)
  if (flags.holdTimeout !== undefined) options.holdTimeoutMs = parseDuration('--hold-timeout / ADIT_HOLD_TIMEOUT', flags.holdTimeout)
  if (flags.publicHostSuffix !== undefined && flags.publicHostSuffix !== '') options.publicHostSuffix = flags.publicHostSuffix
  // Behind Cloud Run's front end the peer is always Google's proxy.
  options.trustProxy = flags.trustProxy !== undefined ? parseBoolean('--trust-proxy / ADIT_TRUST_PROXY', flags.trustProxy) : env.K_SERVICE !== undefined
  return options
}

/** `adit server`: runs until SIGTERM/SIGINT, then drains (GOAWAY to agents) and resolves. */
export async function runServer(flags: ServerFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const logger = createLogger({ name: 'adit-server', ...(flags.logLevel ? { level: flags.logLevel } : {}) })
  const options = serverOptionsFromFlags(flags, env)
  // REDIS_URL: share tunnels with every instance on the same Redis (docs/cluster.md).
  const clusterOptions = clusterOptionsFromEnv(env)
  let cluster: Cluster | undefined
  let server: RunningServer | undefined
  if (clusterOptions.redisUrl !== undefined) {
    let outage = false
    cluster = await createCluster({
      ...clusterOptions,
      onError: (error) => logger.debug({ err: (error as Error).message }, 'cluster error'),
      onHealthChange: (healthy) => {
        if (!healthy && !outage) logger.warn({ redis: redactRedisUrl(clusterOptions.redisUrl!) }, 'cluster store unreachable; reconnecting')
        if (healthy && outage) logger.info('cluster store reachable again')
        outage = !healthy
        // An outage shorter than the relay's timer tick must still end its streams and re-announce.
        server?.relay?.noteHealth(healthy)
      },
    })
    logger.info({ redis: redactRedisUrl(clusterOptions.redisUrl), instance: cluster.bus.instanceId }, 'cluster: sharing tunnels through Redis')
  }
  try {
    server = await startServer({ ...options, logger, cluster })
  } catch (error) {
    await cluster?.close()
    throw error
  }
  const running = server
  logger.info({ url: running.url, port: running.port, revision: env.K_REVISION, ...(cluster ? { instance: cluster.bus.instanceId } : {}) }, 'listening')
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
