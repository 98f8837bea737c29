import { startServer, type RunningServer } from '../server/server.js'
import { createLogger } from '../observability/logger.js'
import { clusterOptionsFromEnv, createCluster, redactRedisUrl, type Cluster } from '../cluster/index.js'
import { printableServerConfig, serverConfig } from '../config/server-settings.js'
import { openLocalStore } from './store-setup.js'
import { readTlsFiles } from '../server/tls-identity.js'

/** `adit server`: runs until SIGTERM/SIGINT, then drains (GOAWAY to agents) and resolves. */
export async function runServer(cliFlags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = serverConfig(cliFlags, env)
  if (cliFlags.printConfig) {
    process.stdout.write(printableServerConfig(config))
    return
  }
  const { values } = config
  // --tls-cert / --tls-key: read and checked before anything starts, so a bad file fails at once, named.
  const tls = readTlsFiles(values.tlsCert, values.tlsKey)
  const logger = createLogger({ name: 'adit-server', level: values.logLevel, format: values.logFormat })
  // REDIS_URL: share tunnels with every instance on the same Redis (docs/cluster.md).
  const clusterOptions = clusterOptionsFromEnv({ REDIS_URL: values.redisUrl, ADIT_REDIS_PREFIX: values.redisPrefix, ADIT_INSTANCE_ID: values.instanceId })
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
  } else {
    // No Redis: one server, its state in the local store (--store, sqlite by default).
    cluster = await openLocalStore(values, env, logger)
  }
  try {
    server = await startServer({ ...config.options, tls, logger, cluster })
  } catch (error) {
    await cluster?.close()
    throw error
  }
  const running = server
  logger.info(
    {
      url: running.url,
      port: running.port,
      revision: env.K_REVISION,
      h2c: config.options.h2c,
      tls: tls !== undefined,
      ...(cluster ? { instance: cluster.bus.instanceId } : {}),
    },
    'listening',
  )
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: draining streams and sending GOAWAY to agents')
      running.close().then(resolve, resolve)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    // SIGHUP: read the certificate and key again (a renewal); new connections get them, open ones keep theirs.
    if (tls !== undefined) process.on('SIGHUP', () => reloadTls(running, values.tlsCert, values.tlsKey, logger))
  })
  await cluster?.close()
  logger.info('stopped')
  logger.flush()
}

function reloadTls(server: RunningServer, certFile: string | undefined, keyFile: string | undefined, logger: ReturnType<typeof createLogger>): void {
  try {
    server.setTls(readTlsFiles(certFile, keyFile)!)
    logger.info({ cert: certFile }, 'TLS certificate reloaded')
  } catch (error) {
    logger.error({ err: (error as Error).message }, 'TLS certificate not reloaded: keeping the one in use')
  }
}
