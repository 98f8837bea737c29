import diagnostics_channel from 'node:diagnostics_channel'
import type { ExchangeEnd, ExchangeStart } from '../agent/exchange-observer.js'
import type { ExchangeSummary } from '../exchange/summary.js'

/**
 * The `node:diagnostics_channel` names adit publishes on. The proxy and the
 * agent only publish (and only when `channel.hasSubscribers`); metrics, the
 * access log and tracing subscribe. Anyone else may subscribe too:
 *
 * @example
 * import diagnostics_channel from 'node:diagnostics_channel'
 * diagnostics_channel.subscribe('adit:server:exchange', (m) => console.log(m))
 *
 * Every message carries an `origin` — the object of the server or tunnel that
 * published it — so subscribers of one instance ignore another instance's
 * events when several run in one process.
 */
export const ChannelName = {
  /** A public request through a tunnel finished (any outcome). */
  SERVER_EXCHANGE: 'adit:server:exchange',
  /** An agent WebSocket was accepted or closed. */
  SERVER_AGENT: 'adit:server:agent',
  /** A public request body had to wait for the agent's flow-control credit. */
  SERVER_STALL: 'adit:server:stall',
  /** The agent started forwarding a request to its local service. */
  AGENT_EXCHANGE_START: 'adit:agent:exchange:start',
  /** The agent finished forwarding a request (any outcome). */
  AGENT_EXCHANGE: 'adit:agent:exchange',
  /** A message crossed the cluster bus (published by the cluster code). */
  CLUSTER_MESSAGE: 'adit:cluster:message',
} as const
export type ChannelName = (typeof ChannelName)[keyof typeof ChannelName]

/** `adit:server:exchange`. */
export interface ServerExchangeMessage {
  origin: object
  summary: ExchangeSummary
  /** The public request's details the access log needs (not on the summary, which the proxy keeps lean). */
  request: {
    /** Absolute URL the client asked for, credentials not yet redacted. */
    url: string
    remoteIp: string
    userAgent: string | undefined
    protocol: string
    /** W3C trace id (32 hex) the exchange belongs to. */
    traceId: string | undefined
    /** Span id of the proxy's span (or of the generated traceparent). */
    spanId: string | undefined
    traceSampled: boolean
  }
}

/** `adit:server:agent`. */
export interface ServerAgentMessage {
  origin: object
  event: 'connect' | 'disconnect'
  tunnelId: string
  connection: number
}

/** `adit:server:stall`. */
export interface ServerStallMessage {
  origin: object | undefined
  tunnelId: string
  requestId: string
}

/** `adit:agent:exchange:start`. */
export interface AgentExchangeStartMessage {
  origin: object
  start: ExchangeStart
}

/** `adit:agent:exchange`. */
export interface AgentExchangeMessage {
  origin: object
  start: ExchangeStart | undefined
  end: ExchangeEnd
}

/** `adit:cluster:message`: `direction` is 'in' or 'out'; `kind` a short label (frame type, 'credit' …). */
export interface ClusterMessageMessage {
  origin: object | undefined
  direction: 'in' | 'out'
  kind: string
}

export const channels = {
  serverExchange: diagnostics_channel.channel(ChannelName.SERVER_EXCHANGE),
  serverAgent: diagnostics_channel.channel(ChannelName.SERVER_AGENT),
  serverStall: diagnostics_channel.channel(ChannelName.SERVER_STALL),
  agentExchangeStart: diagnostics_channel.channel(ChannelName.AGENT_EXCHANGE_START),
  agentExchange: diagnostics_channel.channel(ChannelName.AGENT_EXCHANGE),
  clusterMessage: diagnostics_channel.channel(ChannelName.CLUSTER_MESSAGE),
} as const

/**
 * Subscribes `handler` to `name` for messages of one origin; returns the
 * unsubscribe function. The origin check keeps two servers in one process apart.
 */
export function subscribeFor<T extends { origin: object | undefined }>(
  name: ChannelName,
  origin: object | undefined,
  handler: (message: T) => void,
): () => void {
  const listener = (message: unknown): void => {
    const m = message as T
    if (origin === undefined || m.origin === undefined || m.origin === origin) handler(m)
  }
  diagnostics_channel.subscribe(name, listener)
  return () => {
    diagnostics_channel.unsubscribe(name, listener)
  }
}
