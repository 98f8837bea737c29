import type { MessageBus } from '../../cluster/types.js'
import { FrameType, type Transport } from '../../protocol/index.js'
import { encodeEnvelope, envelopeId, type EnvelopeKind } from './envelope.js'

/** What a transport reports about its peer. */
export interface BusTransportEvents {
  /** PUBLISH found no subscriber: the peer instance is gone. */
  onPeerGone(peer: string): void
  /** The bus itself failed (cluster unavailable or closed): messages may be lost. */
  onBusError(peer: string, error: unknown): void
}

/**
 * An adit.v2 Transport whose "socket" is the cluster bus to one peer
 * instance: every frame is wrapped in a relay envelope and published to the
 * peer's channel. `bufferedAmount` counts bytes handed to the bus whose
 * PUBLISH has not answered yet, so the session's high-water mark bounds what
 * a relay may queue in the Redis client — the same backpressure a WebSocket
 * gives. Replies arrive in command order on one connection, so the
 * per-message bookkeeping is a FIFO and two preallocated callbacks: no
 * closure per frame.
 */
export class BusTransport implements Transport {
  readonly peer: string
  private readonly bus: MessageBus
  private readonly kind: EnvelopeKind
  private readonly sender: Buffer
  private readonly events: BusTransportEvents
  private inFlight = 0
  private readonly lengths: number[] = []
  private readonly callbacks: Array<((err?: Error) => void) | undefined> = []
  private head = 0
  /** Peer answered "nobody listens" or the bus failed: later frames are dropped. */
  broken = false

  constructor(bus: MessageBus, peer: string, kind: EnvelopeKind, events: BusTransportEvents) {
    this.bus = bus
    this.peer = peer
    this.kind = kind
    this.sender = envelopeId(bus.instanceId)
    this.events = events
  }

  get bufferedAmount(): number {
    return this.inFlight
  }

  /** `route`: an OPEN's tunnel id (see RelayOpener), the tunnel the endpoint must serve; it rides in the envelope. */
  send(frame: Buffer | string, onSent?: (err?: Error) => void, route?: Buffer): void {
    if (this.broken || typeof frame === 'string') return
    const tunnel = frame[0] === FrameType.OPEN ? (route ?? null) : null
    const message = encodeEnvelope(this.kind, this.sender, tunnel, frame)
    this.inFlight += message.length
    this.lengths.push(message.length)
    this.callbacks.push(onSent)
    let publishing: Promise<boolean>
    try {
      publishing = this.bus.publish(this.peer, message)
    } catch (error) {
      publishing = Promise.reject(error)
    }
    publishing.then(this.onPublished, this.onPublishFailed)
  }

  private settleOne(): ((err?: Error) => void) | undefined {
    if (this.head >= this.lengths.length) return undefined
    this.inFlight -= this.lengths[this.head]!
    const callback = this.callbacks[this.head]
    this.callbacks[this.head] = undefined
    this.head++
    if (this.head >= 1024 && this.head * 2 >= this.lengths.length) {
      this.lengths.splice(0, this.head)
      this.callbacks.splice(0, this.head)
      this.head = 0
    }
    return callback
  }

  private readonly onPublished = (delivered: boolean): void => {
    const callback = this.settleOne()
    if (!delivered && !this.broken) {
      this.broken = true
      this.events.onPeerGone(this.peer)
    }
    callback?.()
  }

  private readonly onPublishFailed = (error: unknown): void => {
    const callback = this.settleOne()
    if (!this.broken) {
      this.broken = true
      this.events.onBusError(this.peer, error)
    }
    callback?.(error instanceof Error ? error : new Error(String(error)))
  }
}
