import type { OpenedStream, RequestHead, Session, StreamHandler, StreamOpener } from '../../protocol/index.js'
import type { BusTransport } from './bus-transport.js'

/**
 * One virtual adit.v2 connection to another instance over the bus. On the
 * origin side it is a server-role Session (it opens streams); on the
 * endpoint side an agent-role Session (it answers them through RelayBridges).
 */
export class Peer {
  readonly id: string
  readonly session: Session
  readonly transport: BusTransport
  lastInbound = Date.now()
  constructor(id: string, session: Session, transport: BusTransport) {
    this.id = id
    this.session = session
    this.transport = transport
  }
}

/** See RelayOpener.continueTimeoutMs. */
export const RELAY_CONTINUE_TIMEOUT_MS = 1_000

/**
 * The StreamOpener a PublicProxy gets for a tunnel whose agent is on another
 * instance: streams open on the virtual connection to that instance, with
 * the tunnel id riding on the OPEN's envelope.
 */
export class RelayOpener implements StreamOpener {
  /**
   * A request body waits this long for the endpoint's interim 100 (it opened
   * the stream on an agent) before it is sent anyway — an endpoint of an
   * older version never sends one.
   */
  readonly continueTimeoutMs = RELAY_CONTINUE_TIMEOUT_MS
  private readonly peer: Peer
  private readonly tunnel: Buffer
  constructor(peer: Peer, tunnel: Buffer) {
    this.peer = peer
    this.tunnel = tunnel
  }
  /** The instance the streams go to. */
  get peerId(): string {
    return this.peer.id
  }
  openStream(head: RequestHead, handler: StreamHandler): OpenedStream | null {
    // Response trailers may come back on this relay stream (an endpoint of an older version ignores the field).
    return this.peer.session.openStream({ ...head, trailers: true }, handler, this.tunnel)
  }
  get activeStreams(): number {
    return this.peer.session.activeStreams
  }
  get goingAway(): boolean {
    return this.peer.session.goingAway
  }
  get closed(): boolean {
    return this.peer.session.closed
  }
}
