import type { RequestHead, Stream, StreamHandler } from '../protocol/index.js'
import { LocalAnswer } from './local-answer.js'
import type { LocalForwarder } from './local-forwarder.js'
import type { Route } from './routes.js'
import type { WebhookCheck } from './webhooks.js'

/**
 * A request to a route with a webhook check: its body is buffered (copied,
 * credit returned as it arrives, at most the check's cap — `413` beyond),
 * the signature verified, and only then the request forwarded with that
 * body, or answered `401` with the one-line reason. Afterwards frames go to
 * whichever handler took over.
 */
export class WebhookGate implements StreamHandler {
  private readonly chunks: Buffer[] = []
  private bytes = 0
  /** The forwarded exchange or the answer, once there is one. */
  private next: StreamHandler | undefined
  private reset = false

  constructor(
    private readonly forwarder: LocalForwarder,
    private readonly stream: Stream,
    private readonly head: RequestHead,
    private readonly id: string,
    private readonly route: Route,
    private readonly check: WebhookCheck,
  ) {
    const declared = contentLength(head.headers)
    if (declared !== undefined && declared > check.maxBodyBytes) this.tooLarge()
  }

  onData(chunk: Buffer): void {
    if (this.next !== undefined) return this.next.onData(chunk)
    this.bytes += chunk.length
    this.stream.consumed(chunk.length)
    if (this.bytes > this.check.maxBodyBytes) return this.tooLarge()
    // A view into the received message: copy what is kept.
    this.chunks.push(Buffer.from(chunk))
  }

  onEnd(): void {
    if (this.next !== undefined) return this.next.onEnd()
    if (this.reset) return
    const body = Buffer.concat(this.chunks, this.bytes)
    this.chunks.length = 0
    const result = this.check.verify(this.head.headers, body, Date.now())
    if (result.ok) this.next = this.forwarder.forwardBuffered(this.stream, this.head, this.id, this.route, body)
    else this.answer(401, result.reason)
  }

  onReset(code: number, reason: string): void {
    this.reset = true
    this.chunks.length = 0
    this.next?.onReset(code, reason)
  }

  onDrain(): void {
    this.next?.onDrain()
  }

  private tooLarge(): void {
    this.chunks.length = 0
    this.answer(413, `webhook body over ${this.check.maxBodyBytes} bytes, the most this route buffers to check a signature`)
  }

  private answer(status: number, reason: string): void {
    this.next = new LocalAnswer(this.forwarder, this.stream, this.head, this.id, {
      status,
      message: reason,
      answeredBy: `webhook ${this.check.provider}: ${reason}`,
      route: this.forwarder.routeLabel(this.route),
    })
  }
}

function contentLength(headers: ReadonlyArray<[string, string]>): number | undefined {
  for (const [name, value] of headers) if (name.length === 14 && name.toLowerCase() === 'content-length') return /^\d+$/.test(value) ? Number(value) : undefined
  return undefined
}
