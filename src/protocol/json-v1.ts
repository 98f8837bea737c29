import { ProtocolError, ProtocolErrorCode } from './errors.js'
import { ResetCode, type RequestHead, type ResponseHead } from './frame.js'
import { CONNECTION_LOST, type StreamConnection, type Transport } from './session.js'
import type { OpenedStream, StreamHandler } from './stream.js'

/**
 * `adit.json.v1`: the original design's JSON frames, kept so an agent written
 * against it — or a minimal one in any language — keeps working:
 *
 *   server→agent  {"type":"req","req_id","method","path","query","headers":{"H":["v"]},"body":"<base64>"}
 *   agent→server  {"type":"resp","req_id","status","headers":{"H":["v"]},"body":"<base64>"}
 *
 * Whole bodies, no streaming, no flow control: request bodies are buffered up
 * to `maxBodyBytes` (larger ones end with TOO_LARGE → 413). The server side
 * only; the adit agent never speaks it.
 */

export interface JsonRequestFrame {
  type: 'req'
  req_id: string
  method: string
  path: string
  query: string
  headers: Record<string, string[]>
  body: string
}

export interface JsonResponseFrame {
  type: 'resp'
  req_id: string
  status: number
  headers?: Record<string, string | string[]>
  body?: string
}

export const jsonV1Defaults = {
  /** Largest request body buffered for a JSON agent. */
  maxBodyBytes: 32 * 1024 * 1024,
} as const

export function encodeJsonRequest(reqId: string, head: RequestHead, body: Buffer): string {
  const q = head.path.indexOf('?')
  const headers: Record<string, string[]> = {}
  for (const [name, value] of head.headers) {
    const key = canonicalHeaderName(name)
    ;(headers[key] ??= []).push(value)
  }
  const frame: JsonRequestFrame = {
    type: 'req',
    req_id: reqId,
    method: head.method,
    path: q === -1 ? head.path : head.path.slice(0, q),
    query: q === -1 ? '' : head.path.slice(q + 1),
    headers,
    body: body.toString('base64'),
  }
  return JSON.stringify(frame)
}

export function decodeJsonResponse(message: Buffer | string): { reqId: string; head: ResponseHead; body: Buffer } | null {
  let value: unknown
  try {
    value = JSON.parse(typeof message === 'string' ? message : message.toString('utf8'))
  } catch (cause) {
    throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, 'JSON frame is not valid JSON', { cause })
  }
  if (value === null || typeof value !== 'object') throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, 'JSON frame must be an object')
  const frame = value as Partial<JsonResponseFrame> & { type?: unknown }
  if (frame.type !== 'resp') return null
  if (typeof frame.req_id !== 'string' && typeof frame.req_id !== 'number') {
    throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, 'resp frame needs a req_id')
  }
  const status = frame.status
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999) {
    throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, 'resp frame needs an integer status between 100 and 999')
  }
  const headers: Array<[string, string]> = []
  if (frame.headers !== undefined) {
    // An array is an object too, but `[["A","1"]]` would turn into a header named "0".
    if (frame.headers === null || typeof frame.headers !== 'object' || Array.isArray(frame.headers)) {
      throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, 'resp headers must be an object of name → string or string[]')
    }
    for (const [name, value] of Object.entries(frame.headers)) {
      const values = Array.isArray(value) ? value : [value]
      for (const v of values) {
        if (typeof v !== 'string') throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, `resp header ${name} must be a string or an array of strings`)
        headers.push([name, v])
      }
    }
  }
  if (frame.body !== undefined && typeof frame.body !== 'string') throw new ProtocolError(ProtocolErrorCode.JSON_FRAME, 'resp body must be a base64 string')
  return { reqId: String(frame.req_id), head: { status, headers }, body: Buffer.from(frame.body ?? '', 'base64') }
}

/**
 * `content-type` → `Content-Type`, as the original agents expect (Go's
 * canonical form). The rest of each word is lowercased, as Go does: names
 * arrive in the client's own case (rawHeaders), and `CONTENT-TYPE` must land
 * under the same key as `content-type`, where a Go agent's `Header.Get` looks.
 */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
}

/** A JSON v1 exchange: the request body is gathered, sent whole, then the whole response is awaited. */
const JsonV1StreamState = {
  /** Gathering the request body. */
  SENDING: 0,
  /** The request went out; waiting for the response. */
  AWAITING: 1,
  /** Answered, reset, or the connection closed. */
  CLOSED: 2,
} as const
type JsonV1StreamState = (typeof JsonV1StreamState)[keyof typeof JsonV1StreamState]

class JsonV1Stream implements OpenedStream {
  readonly id: number
  readonly head: RequestHead
  readonly handler: StreamHandler
  private readonly session: JsonV1Session
  private chunks: Buffer[] = []
  private size = 0
  private state: JsonV1StreamState = JsonV1StreamState.SENDING

  constructor(id: number, head: RequestHead, handler: StreamHandler, session: JsonV1Session) {
    this.id = id
    this.head = head
    this.handler = handler
    this.session = session
  }

  /** The request (body included) went out. */
  get ended(): boolean {
    return this.state === JsonV1StreamState.AWAITING
  }

  get closed(): boolean {
    return this.state === JsonV1StreamState.CLOSED
  }

  /** Session: the exchange is over (answered, reset or lost); nothing more is sent. */
  close(): void {
    this.state = JsonV1StreamState.CLOSED
    this.chunks = []
  }

  write(chunk: Buffer): boolean {
    if (this.state !== JsonV1StreamState.SENDING) return false
    this.size += chunk.length
    if (this.size > this.session.maxBodyBytes) {
      this.session.forget(this)
      this.handler.onReset(ResetCode.TOO_LARGE, `request body exceeds the ${this.session.maxBodyBytes}-byte limit of JSON agents`)
      return false
    }
    // The chunk may be a view into a buffer its source reuses: keep a copy.
    this.chunks.push(Buffer.from(chunk))
    return true
  }

  end(): void {
    if (this.state !== JsonV1StreamState.SENDING) return
    this.state = JsonV1StreamState.AWAITING
    const body = Buffer.concat(this.chunks, this.size)
    this.chunks = []
    this.session.sendRequest(this, body)
  }

  reset(): void {
    this.session.forget(this)
  }

  consumed(): void {}
}

/** Server side of `adit.json.v1`, behind the same interface as the binary session. */
export class JsonV1Session implements StreamConnection {
  readonly maxBodyBytes: number
  droppedFrames = 0
  private state: 'open' | 'going-away' | 'closed' = 'open'
  private readonly transport: Transport
  private readonly onProtocolError: ((error: ProtocolError) => void) | undefined
  private readonly streams = new Map<string, JsonV1Stream>()
  private nextId = 1

  constructor(transport: Transport, options: { maxBodyBytes?: number; onProtocolError?: (error: ProtocolError) => void } = {}) {
    this.transport = transport
    this.maxBodyBytes = options.maxBodyBytes ?? jsonV1Defaults.maxBodyBytes
    this.onProtocolError = options.onProtocolError
  }

  get activeStreams(): number {
    return this.streams.size
  }

  /** No new streams (goAway was called, or the connection closed). */
  get goingAway(): boolean {
    return this.state !== 'open'
  }

  get closed(): boolean {
    return this.state === 'closed'
  }

  openStream(head: RequestHead, handler: StreamHandler): OpenedStream | null {
    if (this.state !== 'open') return null
    const stream = new JsonV1Stream(this.nextId++, head, handler, this)
    this.streams.set(String(stream.id), stream)
    return stream
  }

  /** JSON v1 has no GOAWAY: the connection simply takes no new streams. */
  goAway(): void {
    if (this.state === 'open') this.state = 'going-away'
  }

  sendRequest(stream: JsonV1Stream, body: Buffer): void {
    this.transport.send(encodeJsonRequest(String(stream.id), stream.head, body))
  }

  forget(stream: JsonV1Stream): void {
    stream.close()
    this.streams.delete(String(stream.id))
  }

  receive(message: Buffer): void {
    if (this.closed) return
    let decoded: ReturnType<typeof decodeJsonResponse>
    try {
      decoded = decodeJsonResponse(message)
    } catch (error) {
      if (error instanceof ProtocolError) return this.onProtocolError?.(error)
      throw error
    }
    if (decoded === null) {
      this.droppedFrames++
      return
    }
    const stream = this.streams.get(decoded.reqId)
    if (stream === undefined || !stream.ended) {
      this.droppedFrames++
      return
    }
    this.forget(stream)
    const { handler } = stream
    handler.onHead?.(decoded.head)
    if (decoded.body.length > 0) handler.onData(decoded.body)
    handler.onEnd()
  }

  close(reason = 'connection closed'): void {
    if (this.closed) return
    this.state = 'closed'
    const open = [...this.streams.values()]
    this.streams.clear()
    for (const stream of open) {
      stream.close()
      stream.handler.onReset(CONNECTION_LOST, reason)
    }
  }
}
