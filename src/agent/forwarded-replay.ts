/**
 * Sends a request to the local service again through the agent's own
 * forwarder pool (same route, origin, Host policy, header rules both ways
 * and keep-alive connections) and reports it to the tunnel's observer like any forwarded
 * request — so the inspector, the --json printer and `request` events all see
 * a replay as one more exchange. The inspector uses it with
 * `replayIsObserved: true`.
 *
 * The shapes match the inspector's ReplayRequest / ReplayResult structurally,
 * so the agent does not import the inspector.
 */
import type { Dispatcher } from 'undici'
import { AditError, ErrorCode } from '../errors.js'
import { stripHopByHop } from '../http/hop-by-hop.js'
import type { LocalForwarder } from './local-forwarder.js'
import { stripRoutePrefix } from './routes.js'

export interface AgentReplayRequest {
  method: string
  /** The recorded request's id, for `${request_id}` in header rules (else its X-Adit-Request-Id). */
  requestId?: string
  /** Path and query, as the local service sees them. */
  path: string
  headers: Array<[string, string]>
  body: Buffer
}

export interface AgentReplayResult {
  status: number
  headers: Array<[string, string]>
  /** At most `maxBodyBytes` of the answer. */
  body: Buffer
  /** The answer's full size. */
  bodyBytes: number
  durationMs: number
  /** The id the observer saw for this exchange (`replay-N`). */
  exchangeId: string
}

export interface ForwardedReplayOptions {
  /** Bytes of the answer kept in the result (the observer still sees every chunk). */
  maxBodyBytes: number
  /** Time the local service has to send its head, and between body chunks (ms). */
  timeoutMs: number
}

export const forwardedReplayDefaults: ForwardedReplayOptions = {
  maxBodyBytes: 1024 * 1024,
  timeoutMs: 30_000,
}

let nextReplay = 1

function headerPairs(headers: Record<string, string | string[] | undefined>): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([name, one])
  }
  return pairs
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException
  return `${e.code ?? 'error'}: ${e.message ?? String(error)}`.slice(0, 300)
}

/** Replays `request` through `forwarder`; rejects (after reporting the failed exchange) when the local service cannot be reached. */
export async function replayThroughForwarder(
  forwarder: LocalForwarder,
  request: AgentReplayRequest,
  input: Partial<ForwardedReplayOptions> = {},
): Promise<AgentReplayResult> {
  const options = { ...forwardedReplayDefaults, ...input }
  const route = forwarder.routeFor(request)
  if (route.local === undefined)
    throw new AditError(ErrorCode.BAD_REQUEST, 400, `route ${route.label} answers by itself; a replay needs a route to a local service`)
  // A replay may carry an edited body: a webhook route checks it again, so the service never gets an unverified delivery.
  const webhook = route.webhook
  if (webhook !== undefined) {
    const result =
      request.body.length > webhook.maxBodyBytes
        ? { ok: false as const, reason: `webhook body over ${webhook.maxBodyBytes} bytes` }
        : webhook.verify(request.headers, request.body, Date.now())
    if (!result.ok) throw new AditError(ErrorCode.UNAUTHORIZED, 401, `webhook ${webhook.provider}: ${result.reason}; the replay was not sent to the service`)
  }
  const id = `replay-${nextReplay++}`
  const observer = forwarder.observer
  const startedAt = Date.now()
  const started = performance.now()
  observer?.onRequest({
    id,
    requestId: undefined,
    tunnelId: forwarder.tunnelId,
    method: request.method,
    path: request.path,
    headers: request.headers,
    startedAt,
    ...(forwarder.routeLabel(route) === undefined ? {} : { route: route.label }),
  })
  if (request.body.length > 0) observer?.onRequestBody?.(id, request.body)
  let status = 0
  let headers: Array<[string, string]> = []
  let bodyBytes = 0
  const kept: Buffer[] = []
  let keptBytes = 0
  try {
    const response = await forwarder.poolFor(route).request({
      path: stripRoutePrefix(route, request.path),
      method: request.method as Dispatcher.HttpMethod,
      headers: forwarder.requestHeaders(request, route),
      body: request.body.length > 0 || !['GET', 'HEAD'].includes(request.method) ? request.body : null,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })
    status = response.statusCode
    // What a visitor would get: hop-by-hop gone, the route's prefix and response rules applied.
    headers = forwarder.responseHeaders(request, route, stripHopByHop(headerPairs(response.headers)))
    observer?.onResponse?.(id, status, headers)
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      bodyBytes += chunk.length
      observer?.onResponseBody?.(id, chunk)
      if (keptBytes < options.maxBodyBytes) {
        const part = chunk.subarray(0, options.maxBodyBytes - keptBytes)
        kept.push(part)
        keptBytes += part.length
      }
    }
  } catch (error) {
    observer?.onEnd({
      id,
      status,
      responseHeaders: headers,
      requestBytes: request.body.length,
      responseBytes: bodyBytes,
      durationMs: Date.now() - startedAt,
      error: describe(error),
    })
    throw error
  }
  const durationMs = Math.round(performance.now() - started)
  observer?.onEnd({ id, status, responseHeaders: headers, requestBytes: request.body.length, responseBytes: bodyBytes, durationMs })
  return { status, headers, body: Buffer.concat(kept, keptBytes), bodyBytes, durationMs, exchangeId: id }
}
