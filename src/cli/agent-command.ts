import type { Tunnel } from '../agent/tunnel.js'
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import { ConfigError } from '../errors.js'
import { combineObservers } from '../inspector/agent-inspector.js'
import { ScopedObserver } from '../inspector/scoped-observer.js'
import { createLogger, redactUrl } from '../observability/logger.js'
import type { AgentMetrics } from '../observability/metrics.js'
import { parseListenAddress, startMetricsServer, type MetricsServer } from '../observability/metrics-http.js'
import { otelRegistered } from '../observability/otel-global.js'
import { loadTunnelsFile, stateFileFor, type AgentTunnelsFile } from './agent-config-file.js'
import { inspectAddressFrom, replayThrough, startInspection } from './agent-inspection.js'
import { accessFor, agentConfig, agentOptionsFrom, printableAgentConfig, type AgentValues } from '../config/agent-settings.js'
import { StatusBoard } from './status-board.js'
import { TunnelRunner, type TunnelPlan } from './tunnel-runner.js'
import { join } from 'node:path'
import { configDir } from '../agent/config-dir.js'
import { parseTcpTarget } from '../agent/local-target.js'

/** One line per event on stdout, for scripts: `ready`, then one per finished request. */
function jsonPrinter(write: (line: string) => void, name: string | undefined): ExchangeObserver {
  const starts = new Map<string, { method: string; path: string; route: string | undefined }>()
  return {
    onRequest(start) {
      starts.set(start.id, { method: start.method, path: start.path, route: start.route })
    },
    onEnd(end) {
      const start = starts.get(end.id)
      starts.delete(end.id)
      write(
        JSON.stringify({
          event: 'request',
          ...(name !== undefined ? { name } : {}),
          method: start?.method,
          path: start === undefined ? undefined : redactUrl(start.path),
          status: end.status,
          bytes: end.responseBytes,
          request_bytes: end.requestBytes,
          ms: end.durationMs,
          ...(end.error ? { error: end.error } : {}),
          ...(start?.route !== undefined ? { route: start.route } : {}),
          ...(end.answeredBy !== undefined ? { answered_by: end.answeredBy } : {}),
        }),
      )
    },
  }
}

/**
 * Lines for stdout. A line that comes alone is written at once (a script
 * waits for `forwarding …`); lines that follow within LINE_BATCH_MS are
 * gathered and written together when it ends: stdout to a pipe or a file is
 * synchronous, and one write per proxied request was ~15% of the agent's busy
 * time at one connection (the sync write inside writeUtf8String, V8 CPU
 * profile). A terminal gets every line at once; what is gathered is written
 * when the process exits.
 */
export interface LineWriter {
  (line: string): void
  /** Writes what is gathered and `line` now, and starts no batch: the line that follows is written at once too. */
  now(line: string): void
}

export function lineWriter(out: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>): LineWriter {
  if (out.isTTY) {
    const direct = ((line: string) => void out.write(`${line}\n`)) as LineWriter
    direct.now = direct
    return direct
  }
  let pending = ''
  let batching = false
  const endOfBatch = (): void => {
    batching = false
    if (pending === '') return
    const text = pending
    pending = ''
    startBatch(text)
  }
  const startBatch = (text: string): void => {
    out.write(text)
    batching = true
    setTimeout(endOfBatch, LINE_BATCH_MS).unref()
  }
  process.once('exit', () => {
    if (pending !== '') out.write(pending)
  })
  const write = ((line: string) => {
    if (batching) pending += `${line}\n`
    else startBatch(`${line}\n`)
  }) as LineWriter
  write.now = (line) => {
    const text = `${pending}${line}\n`
    pending = ''
    batching = false
    out.write(text)
  }
  return write
}

/** Longest a piped stdout line waits, so a burst of requests is one write. */
const LINE_BATCH_MS = 50

/** What `adit tcp <target>` adds to the agent's settings. */
export interface AgentMode {
  /** A TCP tunnel to this local target (`5432`, `host:port`). */
  tcp?: string
}

/** A TCP tunnel's default state file: one per target, so `adit tcp 5432` keeps its URL and never shares `adit http`'s tunnel. */
export function tcpStateFile(target: string, env: NodeJS.ProcessEnv = process.env): string {
  const { host, port } = parseTcpTarget(target, 'tcp target')
  return join(configDir(env), `tcp-${host.replace(/[^a-zA-Z0-9.-]/g, '_')}-${port}-state.json`)
}

/** The tunnels to run: one from the settings, or one per entry of the config file's `tunnels:` list. */
export function tunnelPlans(
  values: Partial<AgentValues>,
  file: AgentTunnelsFile | undefined,
  set: Partial<AgentValues> = values,
  mode: AgentMode = {},
  env: NodeJS.ProcessEnv = process.env,
): TunnelPlan[] {
  const base = agentOptionsFrom(values, set, file?.routes)
  if (mode.tcp !== undefined) {
    if (file?.tunnels !== undefined || file?.routes !== undefined || (base.routes?.length ?? 0) > 0)
      throw new ConfigError('adit tcp runs one TCP tunnel to one target: no routes, and no tunnels list in its config file')
    const { routes: _routes, ...rest } = base
    const stateFile = set.stateFile === undefined ? tcpStateFile(mode.tcp, env) : base.stateFile
    return [{ name: values.name, options: { ...rest, tcp: mode.tcp, ...(stateFile === undefined ? {} : { stateFile }) }, access: undefined }]
  }
  if (file?.tunnels === undefined) return [{ name: values.name, options: base, access: undefined }]
  const plans = file.tunnels.map((entry): TunnelPlan => {
    const { hostHeader: _hostHeader, name: _name, routes: _routes, access: _access, ...shared } = base
    const options: TunnelPlan['options'] = {
      ...shared,
      access: accessFor(values, entry.routes),
      // The origin a tunnel is shown by: its local, else its first route's.
      local: entry.local ?? entry.routes?.find((r) => r.local !== undefined)?.local ?? String(values.local ?? 'http://127.0.0.1:3000'),
      ...(entry.routes !== undefined ? { routes: entry.routes } : {}),
      stateFile: stateFileFor(entry, file.stateDir),
      localInsecure: entry.localInsecure === true,
      ...(entry.hostHeader !== undefined ? { hostHeader: entry.hostHeader } : {}),
      ...(entry.name !== undefined ? { name: entry.name } : {}),
    }
    return { name: entry.name, options, access: entry.access }
  })
  const seen = new Map<string, number>()
  for (const [i, plan] of plans.entries()) {
    const stateFile = plan.options.stateFile
    if (stateFile === null || stateFile === undefined) continue
    const other = seen.get(stateFile)
    if (other !== undefined)
      throw new ConfigError(
        `config file ${file.path}: tunnels[${other}] and tunnels[${i}] would share the state file ${stateFile}; give them different names or state_file`,
      )
    seen.set(stateFile, i)
  }
  return plans
}

/**
 * `adit agent`: runs one tunnel (from the settings) or several (the config
 * file's `tunnels:`), shows their status (a table on a terminal, a line per
 * change when piped, JSON with --json), serves the inspector, and runs
 * until SIGTERM/SIGINT.
 */
export async function runAgent(cliFlags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, mode: AgentMode = {}): Promise<void> {
  const config = agentConfig(cliFlags, env)
  const flags = config.values
  const fileSettings = new Set(
    Object.entries(config.resolved.sources)
      .filter(([, source]) => source === 'file')
      .map(([key]) => key),
  )
  const file = config.resolved.file === undefined ? undefined : await loadTunnelsFile(config.resolved.file, fileSettings)
  const plans = tunnelPlans(flags, file, config.resolved.values, mode, env)
  if (cliFlags.printConfig) {
    process.stdout.write(printableAgentConfig(config, { inspect: inspectAddressFrom(flags)?.address ?? false }))
    if (file?.tunnels !== undefined)
      process.stdout.write(
        `${JSON.stringify({ tunnels: plans.map((p) => ({ name: p.name ?? null, local: p.options.local, stateFile: p.options.stateFile ?? 'none', access: p.access === undefined ? [] : Object.keys(p.access) })) }, null, 2)}\n`,
      )
    return
  }
  const several = file?.tunnels !== undefined
  const json = flags.json === true
  const tty = !json && process.stdout.isTTY === true
  // On a terminal the table is redrawn in place and shows states and last errors itself: log
  // lines would tear it, so only errors are logged there unless --log-level asks for more.
  const level = config.resolved.sources.logLevel === 'default' && tty ? 'error' : flags.logLevel
  // Logs go to stderr so stdout carries only what the user asked for.
  const logger = createLogger({ name: 'adit-agent', level, format: flags.logFormat, fd: 2 })
  const write = lineWriter(process.stdout)

  const runners: TunnelRunner[] = []
  // Several tunnels share one inspector log: each one's exchange ids get a prefix so they stay unique.
  const prefixes = plans.map((_, i) => (several ? `${i + 1}:` : undefined))
  const address = inspectAddressFrom(flags)
  const inspectorNote: string[] = []
  const first = plans[0]!.options
  const inspection =
    address === null
      ? undefined
      : await startInspection(
          address,
          { local: first.local, ...(first.hostHeader ? { hostHeader: first.hostHeader } : {}) },
          replayThrough(runners, prefixes),
          logger,
          (n) => inspectorNote.push(n),
        )
  // A TCP tunnel: how visitors connect (the token is theirs to have: hand it out like the URL).
  let visitorHint: string | undefined
  const onVisitorToken = (token: string, publicUrl: string): void => {
    visitorHint = `visitors: adit connect ${publicUrl} --token ${token} --listen 127.0.0.1:<port>`
    if (board !== undefined && !board.inPlace) write(`adit: ${visitorHint}`)
  }
  const writeJson = json
    ? (event: Record<string, unknown>) => write(JSON.stringify(event.event === 'ready' && inspection ? { ...event, inspector_url: inspection.url } : event))
    : undefined
  const board = json
    ? undefined
    : new StatusBoard(tty ? process.stdout : { write: (text: string) => write(text.endsWith('\n') ? text.slice(0, -1) : text), isTTY: false }, {
        several,
        header: () => [
          `adit agent · ${inspection ? `inspector ${inspection.url}` : (inspectorNote[0] ?? 'no inspector')} · Ctrl-C to stop`,
          ...(visitorHint !== undefined ? [visitorHint] : []),
          '',
        ],
      })
  // Written now, starting no batch: the first line of a batch is written at once but starts it, so
  // the `forwarding` line that follows a few ms later waited the whole LINE_BATCH_MS (~45 ms of
  // every piped start; `--no-inspect` did not have it).
  if (board !== undefined && !board.inPlace && inspection) write.now(`adit: inspector on ${inspection.url}`)

  let metrics: AgentMetrics | undefined
  let metricsTunnel: Tunnel | undefined
  let metricsServer: MetricsServer | undefined
  const cleanups: Array<() => void> = []
  // Spans are no-ops without an OpenTelemetry SDK, so the tracing glue (and @opentelemetry/api) is
  // loaded only when one was registered (e.g. by a --import preload) — it costs start-up time.
  const tracing = otelRegistered() ? await import('../observability/agent-tracing.js') : undefined
  const onTunnel = async (tunnel: Tunnel): Promise<void> => {
    if (tracing !== undefined) cleanups.push(tracing.subscribeAgentTracing(tunnel))
    // Metrics follow one tunnel (their registry has no tunnel label yet): the first to come up.
    // prom-client is loaded only then.
    if (metricsTunnel === undefined && flags.metricsAddr !== undefined && flags.metricsAddr !== '') {
      metricsTunnel = tunnel
      const { AgentMetrics } = await import('../observability/metrics.js')
      metrics = new AgentMetrics(tunnel, tunnel)
      metricsServer = await startMetricsServer(parseListenAddress('--metrics-addr / ADIT_METRICS_ADDR', flags.metricsAddr), metrics)
      logger.info({ url: metricsServer.url, ...(several ? { tunnel: tunnel.id } : {}) }, several ? 'serving metrics of the first tunnel up' : 'serving metrics')
    }
  }

  let fail: (error: Error) => void = () => {}
  const failed = new Promise<never>((_, reject) => {
    fail = reject
  })
  failed.catch(() => {})
  for (const [i, plan] of plans.entries()) {
    const prefix = prefixes[i]
    const logObserver = inspection === undefined ? undefined : prefix === undefined ? inspection.log : new ScopedObserver(prefix, inspection.log)
    const observer: ExchangeObserver | undefined = combineObservers(
      json ? jsonPrinter(write, several ? (plan.name ?? plan.options.local) : undefined) : undefined,
      logObserver,
      board?.transferObserver(plan.name ?? plan.options.local, redactUrl),
    )
    runners.push(
      new TunnelRunner(plan, {
        logger,
        observer,
        status: board?.add({ label: plan.name ?? plan.options.local, local: plan.options.local, state: 'connecting' }),
        json: writeJson,
        retry: several,
        redactPath: redactUrl,
        onTunnel,
        onVisitorToken,
        onUrl: (url) => {
          if (!several) inspection?.setPublicUrl(url)
        },
        onFatal: (error) => {
          if (!several) fail(error)
        },
      }),
    )
    // TODO(security): send plan.access at registration once the server takes access rules there.
    if (plan.access !== undefined)
      logger.warn(
        { tunnel: plan.name ?? plan.options.local },
        'access rules (basic_auth, allow_ip, require_jwt) are checked but not yet sent: this server version takes none at registration',
      )
  }

  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  try {
    // Each tunnel waits for its server as long as it takes; Ctrl-C stops the wait. A single tunnel
    // refused for good stops the agent (exit code 2); several start side by side.
    const started = Promise.all(runners.map((r) => r.start()))
    started.catch(() => {})
    await Promise.race([started, stopped, failed])
    await Promise.race([stopped, failed])
  } finally {
    // SIGTERM/SIGINT: no new requests, 5 s for those in flight.
    await Promise.all(runners.map((r) => r.close(5000)))
    board?.close()
    await inspection?.close()
    for (const cleanup of cleanups) cleanup()
    metrics?.close()
    await metricsServer?.close()
    logger.flush()
  }
}
