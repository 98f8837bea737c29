import { homedir } from 'node:os'
import { join } from 'node:path'
import { connect, type Tunnel } from '../agent/tunnel.js'
import { parseHostHeader, resolveAgentOptions, type AgentOptions } from '../agent/config.js'
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import { combineObservers, startAgentInspector, type AgentInspector } from '../inspector/agent-inspector.js'
import { createLogger, redactUrl } from '../observability/logger.js'
import { subscribeAgentTracing } from '../observability/agent-tracing.js'
import { AgentMetrics } from '../observability/metrics.js'
import { parseListenAddress, startMetricsServer, type MetricsServer } from '../observability/metrics-http.js'
import { describeSettings, loadSettings, type ResolvedSettings } from './config-file.js'
import { parseBytes, parseDuration, parseInteger } from './parse.js'
import { checkLogSettings } from './server-command.js'
import { agentSettings } from './settings.js'

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
  /** --inspect alone is true (127.0.0.1:4040); with a value it is the address. */
  inspect?: boolean | string
  logLevel?: string
  localConnections?: string
  reconnectMax?: string
  maxFrameBytes?: string
  metricsAddr?: string
  logFormat?: string
  /** `--config <file>` / ADIT_CONFIG. */
  config?: string
  /** Print the effective configuration (secrets redacted) and exit. */
  printConfig?: boolean
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
    ...(flags.localConnections !== undefined ? { localConnections: parseInteger('--local-connections / ADIT_LOCAL_CONNECTIONS', flags.localConnections) } : {}),
    ...(flags.reconnectMax !== undefined ? { reconnectMaxMs: parseDuration('--reconnect-max / ADIT_RECONNECT_MAX', flags.reconnectMax) } : {}),
    ...(flags.maxFrameBytes !== undefined ? { maxFrameBytes: parseBytes('--max-frame-bytes / ADIT_MAX_FRAME_BYTES', flags.maxFrameBytes) } : {}),
  }
}

/** Flags typed on the command line, environment and config file → validated agent settings (flag > env > file > default). */
export function agentConfig(cliFlags: AgentFlags, env: NodeJS.ProcessEnv): { flags: AgentFlags; resolved: ResolvedSettings; options: ReturnType<typeof resolveAgentOptions> } {
  const resolved = loadSettings(agentSettings, 'agent', cliFlags as Record<string, unknown>, env)
  const flags = { ...cliFlags, ...resolved.values } as AgentFlags
  checkLogSettings(flags.logLevel, flags.logFormat)
  if (flags.metricsAddr !== undefined && flags.metricsAddr !== '') parseListenAddress('--metrics-addr / ADIT_METRICS_ADDR', flags.metricsAddr)
  const options = resolveAgentOptions(agentOptionsFromFlags(flags))
  return { flags, resolved, options }
}

export function printableAgentConfig(config: ReturnType<typeof agentConfig>): string {
  const { options, flags } = config
  const o = options as unknown as Record<string, unknown>
  const effective: Record<string, unknown> = {
    server: options.server,
    local: options.local,
    stateFile: options.stateFile ?? 'none',
    apiKey: options.apiKey,
    connections: options.connections,
    name: o.name,
    maxConnectionAge: typeof o.maxConnectionAgeMs === 'number' ? `${o.maxConnectionAgeMs}ms` : undefined,
    hostHeader: typeof options.hostHeader === 'object' ? options.hostHeader.value : options.hostHeader,
    localInsecure: options.localInsecure,
    localConnections: options.localConnections,
    reconnectMax: `${options.reconnectMaxMs}ms`,
    maxFrameBytes: options.maxFrameBytes,
    metricsAddr: flags.metricsAddr || undefined,
    inspect: flags.inspect === true ? '127.0.0.1:4040' : flags.inspect || undefined,
    json: flags.json === true,
    logLevel: flags.logLevel ?? 'info',
    logFormat: flags.logFormat ?? 'auto',
  }
  return `${JSON.stringify({ configFile: config.resolved.file ?? null, settings: describeSettings(agentSettings, config.resolved, effective) }, null, 2)}\n`
}

/** One line per event on stdout, for scripts: `ready`, then one per finished request. */
function jsonPrinter(write: (line: string) => void): ExchangeObserver {
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
          method: start?.method,
          path: start === undefined ? undefined : redactUrl(start.path),
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

/**
 * Lines for stdout, written once per event-loop turn: stdout to a pipe is
 * synchronous, and one write per proxied request cost the agent ~15% of its
 * CPU under load.
 */
function lineWriter(out: NodeJS.WriteStream): (line: string) => void {
  let pending = ''
  const flush = (): void => {
    const text = pending
    pending = ''
    out.write(text)
  }
  process.once('exit', () => {
    if (pending !== '') flush()
  })
  return (line) => {
    if (pending === '') setImmediate(flush)
    pending += `${line}\n`
  }
}

/** `adit agent`: connects, prints the public URL, runs until SIGTERM/SIGINT. */
export async function runAgent(cliFlags: AgentFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = agentConfig(cliFlags, env)
  if (cliFlags.printConfig) {
    process.stdout.write(printableAgentConfig(config))
    return
  }
  const { flags } = config
  // Logs go to stderr so stdout carries only what the user asked for.
  const logger = createLogger({ name: 'adit-agent', level: 'info', ...checkLogSettings(flags.logLevel, flags.logFormat), fd: 2 })
  const write = lineWriter(process.stdout)
  const options = agentOptionsFromFlags(flags)
  const inspection: AgentInspector | undefined =
    flags.inspect === undefined || flags.inspect === false
      ? undefined
      : await startAgentInspector({ address: flags.inspect === true ? '127.0.0.1:4040' : flags.inspect, local: options.local, ...(options.hostHeader ? { hostHeader: options.hostHeader } : {}) })
  const observer = combineObservers(flags.json ? jsonPrinter(write) : undefined, inspection?.log)
  let tunnel: Tunnel
  try {
    tunnel = await connect({ ...options, logger, ...(observer ? { observer } : {}) })
  } catch (error) {
    await inspection?.close()
    throw error
  }
  inspection?.setPublicUrl(tunnel.publicUrl)
  const stopTracing = subscribeAgentTracing(tunnel)
  let metrics: AgentMetrics | undefined
  let metricsServer: MetricsServer | undefined
  if (flags.metricsAddr !== undefined && flags.metricsAddr !== '') {
    metrics = new AgentMetrics(tunnel, tunnel)
    metricsServer = await startMetricsServer(parseListenAddress('--metrics-addr / ADIT_METRICS_ADDR', flags.metricsAddr), metrics)
    logger.info({ url: metricsServer.url }, 'serving metrics')
  }
  if (flags.json) {
    write(JSON.stringify({ event: 'ready', id: tunnel.id, public_url: tunnel.publicUrl, ...(inspection ? { inspector_url: inspection.url } : {}) }))
  } else {
    write(`adit: forwarding ${tunnel.publicUrl} → ${options.local}`)
    if (inspection) write(`adit: inspector on ${inspection.url}`)
    tunnel.on('request', (r) => write(`${r.method} ${redactUrl(r.path)} → ${r.status || 'error'} ${r.responseBytes} B ${r.durationMs} ms${r.error ? ` (${r.error})` : ''}`))
  }
  tunnel.on('reregistered', (state) => {
    inspection?.setPublicUrl(state.public_url)
    if (flags.json) write(JSON.stringify({ event: 'ready', id: state.id, public_url: state.public_url, reregistered: true }))
    else write(`adit: the server issued a new tunnel; now forwarding ${state.public_url} → ${options.local}`)
  })
  await new Promise<void>((resolve, reject) => {
    tunnel.on('error', reject)
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  await tunnel.close()
  await inspection?.close()
  stopTracing()
  metrics?.close()
  await metricsServer?.close()
  logger.flush()
}
