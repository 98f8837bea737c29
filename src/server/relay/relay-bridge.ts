import {
  CONNECTION_LOST,
  Pipe,
  ResetCode,
  type OpenedStream,
  type ResponseHead,
  type Stream,
  type StreamHandler,
  type TrailerFields,
} from '../../protocol/index.js'

/**
 * On the endpoint instance (the one holding the agent): joins the relay
 * stream from the origin instance to a real stream on the local agent
 * connection. Credit crosses both ways exactly as a ProxyExchange passes it
 * to a socket: bytes are acknowledged to the side they came from only once
 * the other side took them (`write` returned true, or later `onDrain`), so
 * this instance holds at most one stream window per direction.
 *
 * Two handler objects per stream (one per side), no closure per chunk.
 */
export class RelayBridge {
  /** The stream to the origin instance (relay session, agent role). */
  readonly relay: Stream
  /** The stream on the local agent's connection; null until opened. */
  agent: OpenedStream | null = null
  /** Request bytes from the origin → the agent stream, acknowledged to the origin once the agent stream took them. */
  private readonly toAgent: Pipe
  /** Response bytes from the agent → the relay stream, acknowledged to the agent once the origin's credit let them go. */
  private readonly toOrigin: Pipe
  private done = false

  constructor(relay: Stream) {
    this.relay = relay
    this.toAgent = new Pipe({ source: relay })
    this.toOrigin = new Pipe({ destination: relay })
  }

  /** The local agent stream is open: start passing frames. */
  attach(agent: OpenedStream): void {
    this.agent = agent
    this.toAgent.destination = agent
    this.toOrigin.source = agent
  }

  /** Handler of the relay stream: what the origin sends. */
  readonly fromOrigin: StreamHandler = {
    onData: (chunk: Buffer): void => {
      if (this.agent !== null) this.toAgent.push(chunk)
    },
    onTrailers: (trailers: TrailerFields): void => {
      // The request's trailers: on to the agent (plain END there if its connection did not negotiate them).
      if (this.agent?.endWithTrailers !== undefined) this.agent.endWithTrailers(trailers)
    },
    onEnd: (): void => {
      this.agent?.end()
    },
    onReset: (code: number, reason: string): void => {
      if (this.done) return
      this.done = true
      // CONNECTION_LOST here means the origin vanished (or the bus broke): the public client is gone.
      this.agent?.reset(code === CONNECTION_LOST ? ResetCode.CANCEL : code, reason)
    },
    onDrain: (): void => {
      // The origin granted credit again: release the agent's bytes that waited for it.
      this.toOrigin.drained()
    },
  }

  /** Handler of the agent stream: what the agent answers. */
  readonly fromAgent: StreamHandler = {
    onHead: (head: ResponseHead): void => {
      this.relay.sendHead(head)
    },
    onData: (chunk: Buffer): void => {
      this.toOrigin.push(chunk)
    },
    onTrailers: (trailers: TrailerFields): void => {
      // The response's trailers: back to the origin (plain END if its OPEN did not ask for them).
      this.relay.endWithTrailers(trailers)
    },
    onEnd: (): void => {
      this.relay.end()
    },
    onReset: (code: number, reason: string): void => {
      if (this.done) return
      this.done = true
      // CONNECTION_LOST (the agent's connection dropped) is forwarded as is:
      // on the relay link it tells the origin what it would have seen locally,
      // so an idempotent request may be retried elsewhere.
      this.relay.reset(code, reason)
    },
    onDrain: (): void => {
      this.toAgent.drained()
    },
  }
}
