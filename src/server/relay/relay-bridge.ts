import { CONNECTION_LOST, ResetCode, type OpenedStream, type ResponseHead, type Stream, type StreamHandler } from '../../protocol/index.js'

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
  /** Request bytes received from the origin, not yet acknowledged (the agent stream was full). */
  private owedToOrigin = 0
  /** Response bytes received from the agent, not yet acknowledged (the origin's credit ran out). */
  private owedToAgent = 0
  private done = false

  constructor(relay: Stream) {
    this.relay = relay
  }

  /** The local agent stream is open: start passing frames. */
  attach(agent: OpenedStream): void {
    this.agent = agent
  }

  /** Handler of the relay stream: what the origin sends. */
  readonly fromOrigin: StreamHandler = {
    onData: (chunk: Buffer): void => {
      const agent = this.agent
      if (agent === null) return
      if (agent.write(chunk)) this.relay.consumed(chunk.length)
      else this.owedToOrigin += chunk.length
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
      const n = this.owedToAgent
      this.owedToAgent = 0
      if (n > 0) this.agent?.consumed(n)
    },
  }

  /** Handler of the agent stream: what the agent answers. */
  readonly fromAgent: StreamHandler = {
    onHead: (head: ResponseHead): void => {
      this.relay.sendHead(head)
    },
    onData: (chunk: Buffer): void => {
      if (this.relay.write(chunk)) this.agent!.consumed(chunk.length)
      else this.owedToAgent += chunk.length
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
      const n = this.owedToOrigin
      this.owedToOrigin = 0
      if (n > 0) this.relay.consumed(n)
    },
  }
}
