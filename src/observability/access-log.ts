import type { Logger } from 'pino'
import { ChannelName, subscribeFor, type ServerExchangeMessage } from './channels.js'
import { redactUrl } from './logger.js'

/** Cloud Logging's `HttpRequest` (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry#HttpRequest). */
export interface CloudHttpRequest {
  requestMethod: string
  requestUrl: string
  status: number
  /** int64 fields are strings in Cloud Logging's JSON. */
  requestSize: string
  responseSize: string
  /** Seconds with a trailing `s`, e.g. `"0.012s"`. */
  latency: string
  remoteIp: string
  userAgent?: string
  protocol: string
}

/** The fields of the access line for one finished exchange. */
export function accessLogFields(message: ServerExchangeMessage, project: string | undefined): Record<string, unknown> {
  const { summary, request } = message
  const httpRequest: CloudHttpRequest = {
    requestMethod: summary.method,
    requestUrl: redactUrl(request.url),
    status: summary.status,
    requestSize: String(summary.requestBytes),
    responseSize: String(summary.responseBytes),
    latency: `${(summary.durationMs / 1000).toFixed(3)}s`,
    remoteIp: request.remoteIp,
    ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
    protocol: request.protocol,
  }
  const fields: Record<string, unknown> = {
    requestId: summary.requestId,
    tunnel: summary.tunnelId,
    method: summary.method,
    path: redactUrl(summary.path),
    status: summary.status,
    requestBytes: summary.requestBytes,
    responseBytes: summary.responseBytes,
    latencyMs: Math.round(summary.durationMs * 10) / 10,
    ...(summary.retries > 0 ? { retries: summary.retries } : {}),
    ...(summary.error ? { error: summary.error } : {}),
    ...(summary.route !== undefined ? { route: summary.route } : {}),
    ...(summary.answeredBy !== undefined ? { answeredBy: summary.answeredBy } : {}),
    httpRequest,
  }
  if (request.traceId !== undefined) {
    fields.traceId = request.traceId
    // Without a project Cloud Logging cannot link the trace; the bare id is still logged above.
    if (project !== undefined) fields['logging.googleapis.com/trace'] = `projects/${project}/traces/${request.traceId}`
    if (request.spanId !== undefined) fields['logging.googleapis.com/spanId'] = request.spanId
    fields['logging.googleapis.com/trace_sampled'] = request.traceSampled
  }
  return fields
}

/**
 * Writes one `proxied` line per finished exchange of `origin`, subscribed to
 * `adit:server:exchange`. Returns the unsubscribe function.
 */
export function subscribeAccessLog(origin: object, logger: Logger, project: string | undefined): () => void {
  return subscribeFor<ServerExchangeMessage>(ChannelName.SERVER_EXCHANGE, origin, (message) => {
    logger.info(accessLogFields(message, project), 'proxied')
  })
}
