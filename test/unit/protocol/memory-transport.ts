/**
 * In-memory transports for session tests: frames queue up until the test
 * delivers them, `bufferedAmount` is whatever the test says, and `onSent`
 * callbacks run only when the test fires them — so every interleaving a real
 * WebSocket could produce can be produced on purpose, with no timers.
 */
import { Session, type SessionOptions, type StreamHandler, type Transport } from '../../../src/protocol/index.js'

export class MemoryTransport implements Transport {
  /**
   * Fake socket buffer. By default tests set it by hand to simulate a
   * congested WebSocket; with `accountsBuffer` it behaves like ws: every send
   * adds its size, and `writeOut` removes it (oldest first) and fires `onSent`.
   */
  bufferedAmount = 0
  readonly accountsBuffer: boolean
  /** Frames sent and not yet delivered to the peer. */
  readonly outbox: Buffer[] = []
  /** Every frame ever sent, in order. */
  readonly log: Buffer[] = []
  /** Text messages (JSON v1) ever sent, in order. */
  readonly texts: string[] = []
  private readonly sentCallbacks: Array<(err?: Error) => void> = []
  private readonly unwritten: Array<{ size: number; onSent: ((err?: Error) => void) | undefined }> = []

  constructor(options: { accountsBuffer?: boolean } = {}) {
    this.accountsBuffer = options.accountsBuffer ?? false
  }

  send(frame: Buffer | string, onSent?: (err?: Error) => void): void {
    if (this.accountsBuffer) {
      const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length
      this.bufferedAmount += size
      this.unwritten.push({ size, onSent })
      onSent = undefined
    }
    if (typeof frame === 'string') {
      this.texts.push(frame)
    } else {
      this.outbox.push(frame)
      this.log.push(frame)
    }
    if (onSent !== undefined) this.sentCallbacks.push(onSent)
  }

  /** How many `onSent` callbacks wait to be fired. */
  get pendingCallbacks(): number {
    return this.sentCallbacks.length
  }

  /** Runs up to `max` queued `onSent` callbacks (oldest first); returns how many ran. */
  fireSent(max = Infinity): number {
    let n = 0
    while (n < max && this.sentCallbacks.length > 0) {
      this.sentCallbacks.shift()!()
      n++
    }
    return n
  }

  /** `accountsBuffer` mode: the socket wrote the `max` oldest frames; fires their `onSent`. */
  writeOut(max = Infinity): number {
    let n = 0
    while (n < max && this.unwritten.length > 0) {
      const { size, onSent } = this.unwritten.shift()!
      this.bufferedAmount -= size
      n++
      onSent?.()
    }
    return n
  }

  /** Removes and returns up to `max` undelivered frames. */
  take(max = Infinity): Buffer[] {
    return this.outbox.splice(0, Math.min(max, this.outbox.length))
  }
}

export interface SessionPair {
  server: Session
  agent: Session
  serverTransport: MemoryTransport
  agentTransport: MemoryTransport
  /** Delivers frames both ways until neither side has anything left to say; returns how many. */
  pump(): number
  /** Delivers at most `max` frames from one side to the other. */
  deliver(from: 'server' | 'agent', max?: number): number
}

/** A server session and an agent session wired back to back. */
export function sessionPair(
  agentOptions: Omit<SessionOptions, 'role'> = {},
  serverOptions: Omit<SessionOptions, 'role'> = {},
  transportOptions: { accountsBuffer?: boolean } = {},
): SessionPair {
  const serverTransport = new MemoryTransport(transportOptions)
  const agentTransport = new MemoryTransport(transportOptions)
  const server = new Session(serverTransport, { ...serverOptions, role: 'server' })
  const agent = new Session(agentTransport, { ...agentOptions, role: 'agent' })
  const deliver = (from: 'server' | 'agent', max = Infinity): number => {
    const [source, target] = from === 'server' ? [serverTransport, agent] : [agentTransport, server]
    const frames = source.take(max)
    for (const frame of frames) target.receive(frame)
    return frames.length
  }
  const pump = (): number => {
    let total = 0
    for (let rounds = 0; rounds < 100_000; rounds++) {
      const n = deliver('server') + deliver('agent')
      if (n === 0) return total
      total += n
    }
    throw new Error('pump did not settle after 100000 rounds')
  }
  return { server, agent, serverTransport, agentTransport, pump, deliver }
}

export type StreamEvent =
  | { kind: 'head'; status: number; headers: Array<[string, string]> }
  | { kind: 'data'; length: number }
  | { kind: 'trailers'; trailers: Array<[string, string]> }
  | { kind: 'end' }
  | { kind: 'reset'; code: number; reason: string }
  | { kind: 'drain' }

/** A handler that records what happens to a stream and keeps (copies of) the bytes. */
export class RecordingHandler implements StreamHandler {
  readonly events: StreamEvent[] = []
  readonly chunks: Buffer[] = []
  received = 0
  drains = 0
  ended = false
  resetCode: number | undefined
  trailers: Array<[string, string]> | undefined

  onHead(head: { status: number; headers: Array<[string, string]> }): void {
    this.events.push({ kind: 'head', status: head.status, headers: head.headers })
  }
  onData(chunk: Buffer): void {
    this.events.push({ kind: 'data', length: chunk.length })
    this.chunks.push(Buffer.from(chunk))
    this.received += chunk.length
  }
  onTrailers(trailers: Array<[string, string]>): void {
    this.trailers = trailers
    this.events.push({ kind: 'trailers', trailers })
  }
  onEnd(): void {
    this.ended = true
    this.events.push({ kind: 'end' })
  }
  onReset(code: number, reason: string): void {
    this.resetCode = code
    this.events.push({ kind: 'reset', code, reason })
  }
  onDrain(): void {
    this.drains++
    this.events.push({ kind: 'drain' })
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks)
  }

  kinds(): string[] {
    return this.events.map((e) => e.kind)
  }
}

/** A small deterministic PRNG (mulberry32) so "random" tests replay exactly from their seed. */
export function prng(seed: number): (maxExclusive: number) => number {
  let a = seed >>> 0
  return (maxExclusive: number): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296
    return Math.floor(r * maxExclusive)
  }
}
