import { http } from '../http/node-http.js'

const { STATUS_CODES } = http
import type { RequestHead, Stream, StreamHandler } from '../protocol/index.js'
import type { ExchangeObserver } from './exchange-observer.js'

/** What `LocalAnswer` needs of the forwarder. */
export interface AnswerContext {
  readonly observer: ExchangeObserver | undefined
  readonly tunnelId: string
}

export interface AnswerSpec {
  status: number
  /** One line for the visitor, without the status (the request id is added). */
  message: string
  /** The rule that answered, for the inspector (`route /old → 410`). */
  answeredBy: string
  /** The route the request took, when the tunnel has routes. */
  route: string | undefined
  /** Extra response headers (e.g. `Allow`). */
  headers?: Array<[string, string]>
}

/**
 * A request the agent answers itself, without reaching a local service: a
 * route with a status, a failed webhook signature, a body over a cap. The
 * answer is a plain-text one-liner with the request id; whatever request
 * body still arrives is discarded with its credit returned, so the stream
 * closes cleanly.
 */
export class LocalAnswer implements StreamHandler {
  private readonly stream: Stream

  constructor(context: AnswerContext, stream: Stream, head: RequestHead, id: string, spec: AnswerSpec, alreadyReported = false) {
    this.stream = stream
    const started = Date.now()
    const observer = context.observer
    if (!alreadyReported)
      observer?.onRequest({
        id,
        requestId: head.requestId,
        tunnelId: context.tunnelId,
        method: head.method,
        path: head.path,
        headers: head.headers,
        startedAt: started,
        ...(spec.route === undefined ? {} : { route: spec.route }),
      })
    const reason = STATUS_CODES[spec.status] ?? 'Error'
    const body = Buffer.from(`${spec.status} ${reason}: ${spec.message}${head.requestId ? ` (request id ${head.requestId})` : ''}\n`)
    const headers: Array<[string, string]> = [
      ['content-type', 'text/plain; charset=utf-8'],
      ['content-length', String(body.length)],
      ['cache-control', 'no-store'],
      ...(spec.headers ?? []),
    ]
    // The route and the rule ride on HEAD for the server's dashboard (the server never passes them to the visitor).
    stream.sendHead({ status: spec.status, headers, answeredBy: spec.answeredBy, ...(spec.route === undefined ? {} : { route: spec.route }) })
    observer?.onResponse?.(id, spec.status, headers)
    if (head.method !== 'HEAD') {
      stream.write(body)
      observer?.onResponseBody?.(id, body)
    }
    stream.end()
    observer?.onEnd({
      id,
      status: spec.status,
      responseHeaders: headers,
      requestBytes: 0,
      responseBytes: head.method === 'HEAD' ? 0 : body.length,
      durationMs: Date.now() - started,
      answeredBy: spec.answeredBy,
    })
  }

  onData(chunk: Buffer): void {
    this.stream.consumed(chunk.length)
  }

  onEnd(): void {}

  onReset(): void {}

  onDrain(): void {}
}
