import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import {
  ChannelName,
  subscribeFor,
  type AgentExchangeMessage,
  type ClusterMessageMessage,
  type ServerAgentMessage,
  type ServerExchangeMessage,
  type ServerStallMessage,
} from './channels.js'

/** Latency buckets (seconds): from a fast local hop to a long download. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * Caps the number of distinct tunnel label values: the first `max` tunnels
 * seen keep their id, every later one is counted as `other`, so a server with
 * many short-lived tunnels cannot blow up the series count. Only tunnels that
 * exist are admitted (an agent connected for them); any other id a visitor
 * makes up is counted as `unknown`, so nobody can fill the slots from outside.
 */
export class LabelCap {
  private readonly seen = new Set<string>()
  constructor(private readonly max: number) {}
  /** The label of a tunnel that exists: its id while there is room, else `other`. */
  admit(value: string): string {
    if (this.seen.has(value)) return value
    if (this.seen.size >= this.max) return 'other'
    this.seen.add(value)
    return value
  }
  /** The label of an id nobody vouched for: its own once admitted, else `unknown`. */
  label(value: string): string {
    return this.seen.has(value) ? value : 'unknown'
  }
}

/** What the server metrics read at scrape time (the live tunnel registry). */
export interface LiveTunnels {
  readonly tunnelCount: number
  connections(): Iterable<{ readonly session: { readonly activeStreams: number } }>
  /** The tunnel's entry when an agent for it is connected here (undefined otherwise). */
  get?(id: string): unknown
}

export interface MetricsOptions {
  /** Distinct tunnel ids used as label values before `other` (default 1000). */
  maxTunnelLabels: number
  /** Also export Node's process metrics (CPU, memory, event loop lag) as `adit_process_*` and `adit_nodejs_*`. */
  processMetrics: boolean
}

export const metricsDefaults: MetricsOptions = { maxTunnelLabels: 1000, processMetrics: true }

/**
 * The server's Prometheus metrics, in their own Registry. Everything is fed
 * by diagnostics channels (the proxy never calls in here) or read from the
 * registry at scrape time.
 */
export class ServerMetrics {
  readonly registry = new Registry()
  private readonly unsubscribe: Array<() => void> = []

  constructor(origin: object, live: LiveTunnels, input: Partial<MetricsOptions> = {}) {
    const options = { ...metricsDefaults, ...input }
    const tunnels = new LabelCap(options.maxTunnelLabels)
    const registers = [this.registry]
    const requests = new Counter({
      name: 'adit_requests_total',
      help: 'Public requests through tunnels, by tunnel and response status (0: no response).',
      labelNames: ['tunnel', 'status'],
      registers,
    })
    const latency = new Histogram({
      name: 'adit_request_duration_seconds',
      help: 'Time from the public request to the end of its response.',
      labelNames: ['status_class'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    const requestBytes = new Counter({
      name: 'adit_request_bytes_total',
      help: 'Public request body bytes sent into tunnels.',
      labelNames: ['tunnel'],
      registers,
    })
    const responseBytes = new Counter({
      name: 'adit_response_bytes_total',
      help: 'Response body bytes sent back to public clients.',
      labelNames: ['tunnel'],
      registers,
    })
    const opened = new Counter({
      name: 'adit_agent_connections_opened_total',
      help: 'Agent WebSocket connections accepted, by tunnel (reconnects show up here).',
      labelNames: ['tunnel'],
      registers,
    })
    const closed = new Counter({ name: 'adit_agent_connections_closed_total', help: 'Agent WebSocket connections closed.', registers })
    const stalls = new Counter({
      name: 'adit_flow_control_stalls_total',
      help: 'Times a public request body waited for the agent to grant flow-control credit.',
      registers,
    })
    const clusterMessages = new Counter({
      name: 'adit_cluster_messages_total',
      help: 'Messages over the cluster bus, by direction and kind (stays 0 until the cluster code publishes on adit:cluster:message).',
      labelNames: ['direction', 'kind'],
      registers,
    })
    new Gauge({
      name: 'adit_tunnels_active',
      help: 'Tunnels with at least one agent connected to this instance.',
      registers,
      collect() {
        this.set(live.tunnelCount)
      },
    })
    new Gauge({
      name: 'adit_agent_connections',
      help: 'Agent WebSocket connections open on this instance.',
      registers,
      collect() {
        let n = 0
        for (const _ of live.connections()) n++
        this.set(n)
      },
    })
    new Gauge({
      name: 'adit_streams_active',
      help: 'Streams (requests) in flight on this instance.',
      registers,
      collect() {
        let n = 0
        for (const c of live.connections()) n += c.session.activeStreams
        this.set(n)
      },
    })
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'adit_' })

    this.unsubscribe.push(
      subscribeFor<ServerExchangeMessage>(ChannelName.SERVER_EXCHANGE, origin, ({ summary }) => {
        const id = summary.tunnelId
        const tunnel = id === '' ? 'none' : live.get?.(id) !== undefined ? tunnels.admit(id) : tunnels.label(id)
        requests.inc({ tunnel, status: String(summary.status) })
        latency.observe({ status_class: statusClass(summary.status) }, summary.durationMs / 1000)
        if (summary.requestBytes > 0) requestBytes.inc({ tunnel }, summary.requestBytes)
        if (summary.responseBytes > 0) responseBytes.inc({ tunnel }, summary.responseBytes)
      }),
      subscribeFor<ServerAgentMessage>(ChannelName.SERVER_AGENT, origin, (m) => {
        if (m.event === 'connect') opened.inc({ tunnel: tunnels.admit(m.tunnelId) })
        else closed.inc()
      }),
      subscribeFor<ServerStallMessage>(ChannelName.SERVER_STALL, origin, () => stalls.inc()),
      subscribeFor<ClusterMessageMessage>(ChannelName.CLUSTER_MESSAGE, origin, (m) => clusterMessages.inc({ direction: m.direction, kind: m.kind })),
    )
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u()
  }
}

/** What the agent metrics read at scrape time. */
export interface AgentLive {
  readonly connectedCount: number
  on(event: 'status', listener: (s: { state: 'connected' | 'disconnected' }) => void): unknown
}

/** The agent's own metrics (`--metrics-addr`), fed by `adit:agent:exchange` and the tunnel's status events. */
export class AgentMetrics {
  readonly registry = new Registry()
  private readonly unsubscribe: Array<() => void> = []

  constructor(origin: object, tunnel: AgentLive, input: Partial<Pick<MetricsOptions, 'processMetrics'>> = {}) {
    const registers = [this.registry]
    const requests = new Counter({
      name: 'adit_agent_requests_total',
      help: 'Requests forwarded to the local service, by status (0: no response, see adit_agent_local_errors_total).',
      labelNames: ['status'],
      registers,
    })
    const errors = new Counter({ name: 'adit_agent_local_errors_total', help: 'Forwarded requests that failed before or during the response.', registers })
    const latency = new Histogram({
      name: 'adit_agent_request_duration_seconds',
      help: 'Time the local service took, head to end of body.',
      labelNames: ['status_class'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    const requestBytes = new Counter({ name: 'adit_agent_request_bytes_total', help: 'Request body bytes sent to the local service.', registers })
    const responseBytes = new Counter({ name: 'adit_agent_response_bytes_total', help: 'Response body bytes read from the local service.', registers })
    const opened = new Counter({
      name: 'adit_agent_server_connections_opened_total',
      help: 'WebSocket connections to the server that opened (the first, then every reconnect).',
      registers,
    })
    new Gauge({
      name: 'adit_agent_server_connections',
      help: 'WebSocket connections to the server open now.',
      registers,
      collect() {
        this.set(tunnel.connectedCount)
      },
    })
    if (input.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'adit_' })
    // Connections that opened before these metrics existed (connect() resolves after the first).
    if (tunnel.connectedCount > 0) opened.inc(tunnel.connectedCount)
    tunnel.on('status', (s) => {
      if (s.state === 'connected') opened.inc()
    })
    this.unsubscribe.push(
      subscribeFor<AgentExchangeMessage>(ChannelName.AGENT_EXCHANGE, origin, ({ end }) => {
        requests.inc({ status: String(end.status) })
        if (end.error !== undefined) errors.inc()
        latency.observe({ status_class: statusClass(end.status) }, end.durationMs / 1000)
        if (end.requestBytes > 0) requestBytes.inc(end.requestBytes)
        if (end.responseBytes > 0) responseBytes.inc(end.responseBytes)
      }),
    )
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u()
  }
}

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'none'
}
