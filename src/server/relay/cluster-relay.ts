import type { Cluster, TunnelRecord } from '../../cluster/types.js'
import {
  encodeReset,
  Feature,
  FEATURES_HEADER,
  FrameType,
  ResetCode,
  Session,
  sessionDefaults,
  type RequestHead,
  type ResponseHead,
  type Stream,
  type StreamHandler,
  type StreamOpener,
} from '../../protocol/index.js'
import type { Logger } from '../../observability/logger.js'
import type { TunnelRegistry } from '../tunnel-registry.js'
import { withTimeout } from './bounded.js'
import { BusTransport, type BusTransportEvents } from './bus-transport.js'
import { decodeEnvelope, encodeEnvelope, Envelope, EnvelopeKind, envelopeId } from './envelope.js'
import { PresenceKeeper } from './presence-keeper.js'
import { RecordKeeper, type RecordKeeperHooks } from './record-keeper.js'
import { RelayBridge } from './relay-bridge.js'
import { Peer, RelayOpener } from './relay-peer.js'
import { resolveRelayOptions, type RelayOptions } from './relay-options.js'

/**
 * "Send the body", naming the optional features this endpoint takes on the
 * relay stream (its request trailers): an older origin ignores the header.
 */
const CONTINUE: ResponseHead = { status: 100, headers: [[FEATURES_HEADER, Feature.TRAILERS]] }

const refusedHandler: StreamHandler = { onData() {}, onEnd() {}, onReset() {}, onDrain() {} }

/**
 * Makes N server instances act as one: keeps this instance's presence
 * entries, carries public requests to the instance that holds the tunnel's
 * agent (origin side), and serves requests other instances carry here
 * (endpoint side) — all over the cluster bus, as adit.v2 frames in relay
 * envelopes (docs/cluster.md). One timer per instance does housekeeping:
 * presence refresh, health (an outage ends every relay stream, a recovery
 * re-announces every tunnel), the records of the tunnels connected here
 * (written back when the store lost them, record-keeper.ts), and probes of
 * silent peers.
 */
export class ClusterRelay {
  readonly instanceId: string
  readonly options: RelayOptions
  /** Bus messages that were not well-formed envelopes (dropped). */
  droppedMessages = 0
  /**
   * Origin side: instance `peer` said it is draining (a LEAVING envelope): the upgraded sessions
   * relayed through it have `timeoutMs` to close before it cuts them.
   */
  onPeerLeaving: ((peer: string, timeoutMs: number) => void) | undefined
  private readonly cluster: Cluster
  private readonly registry: TunnelRegistry
  private readonly logger: Logger
  private readonly keeper: PresenceKeeper
  /** The records of the tunnels connected here, restored when the store lost them. */
  readonly records: RecordKeeper
  private readonly origins = new Map<string, Peer>() // endpoint side: keyed by origin instance
  private readonly endpoints = new Map<string, Peer>() // origin side: keyed by endpoint instance
  private readonly gone = new Map<string, number>() // instance → skip until (epoch ms)
  private readonly lookups = new Map<string, Promise<string[]>>()
  /** Tunnels whose only holders were instances found gone, and when (bounded: oldest dropped first). */
  private readonly orphanedAt = new Map<string, number>()
  private readonly envelope = new Envelope()
  private readonly sender: Buffer
  private readonly transportEvents: BusTransportEvents
  private timer: NodeJS.Timeout | undefined
  private wasHealthy = true
  /** When the cluster last came back after an outage (epoch ms; 0: never). */
  private recoveredAt = 0
  private nextRefreshAt = 0
  private closed = false

  constructor(cluster: Cluster, registry: TunnelRegistry, logger: Logger, options: Partial<RelayOptions> = {}, hooks: RecordKeeperHooks = { disconnect() {} }) {
    this.cluster = cluster
    this.registry = registry
    this.logger = logger
    this.options = resolveRelayOptions(options)
    this.instanceId = cluster.bus.instanceId
    this.sender = envelopeId(this.instanceId)
    this.keeper = new PresenceKeeper(cluster.presence, registry, this.instanceId, this.options.presenceTtlMs, this.onPresenceError)
    this.records = new RecordKeeper(cluster.store, registry, logger, this.options.callTimeoutMs, hooks)
    this.transportEvents = {
      onPeerGone: (peer) => this.peerGone(peer),
      onBusError: (peer, error) => {
        this.logger.warn({ peer, err: (error as Error).message }, 'cluster bus failed; ending the relay streams to that instance')
        this.dropPeer(peer, 'cluster bus unavailable')
      },
    }
  }

  /** Subscribes to this instance's bus channel and starts the housekeeping timer. */
  async start(): Promise<void> {
    await this.cluster.bus.subscribe(this.onMessage)
    await this.records.start()
    this.wasHealthy = this.cluster.healthy()
    this.nextRefreshAt = Date.now() + this.options.presenceRefreshMs
    this.timer = setInterval(this.tick, this.options.tickMs)
    this.timer.unref()
  }

  /** Tunnels this instance currently announces. */
  get announcedTunnels(): number {
    return this.keeper.count
  }

  /** Relay streams open on this instance, both sides. */
  get activeStreams(): number {
    let n = 0
    for (const peer of this.origins.values()) n += peer.session.activeStreams
    for (const peer of this.endpoints.values()) n += peer.session.activeStreams
    return n
  }

  /** An agent connected here; `record` is what its secret was verified against. */
  agentConnected(tunnelId: string, record?: TunnelRecord | null): void {
    if (this.closed) return
    this.keeper.connected(tunnelId)
    if (record != null) this.records.connected(tunnelId, record)
  }

  agentDisconnected(tunnelId: string): void {
    if (!this.closed) this.keeper.check(tunnelId)
  }

  /**
   * PublicProxy's `remoteOpener`: an opener on another live instance that
   * holds the tunnel's agent, or undefined. Rejects with
   * ADIT_ERR_CLUSTER_UNAVAILABLE when presence cannot be read in time.
   */
  readonly remoteOpener = async (tunnelId: string): Promise<StreamOpener | undefined> => {
    if (this.closed) return undefined
    const holders = await this.lookup(tunnelId)
    const now = Date.now()
    let candidates = 0
    let choice: string | undefined
    for (const holder of holders) {
      if (holder === this.instanceId || (this.gone.get(holder) ?? 0) > now) continue
      // Reservoir pick: spreads a tunnel held on several instances.
      if (Math.random() * ++candidates < 1) choice = holder
    }
    if (choice === undefined) {
      if (holders.length > 0 && candidates === 0 && !holders.includes(this.instanceId)) this.noteOrphaned(tunnelId, now)
      return undefined
    }
    return new RelayOpener(this.endpointPeer(choice), envelopeId(tunnelId))
  }

  /**
   * PublicProxy's hold hint: presence still named a holder that turned out
   * gone (killed) within `windowMs` — its agent is reconnecting somewhere,
   * so a request should wait for it rather than fail at once.
   */
  readonly recentlyHeldElsewhere = (tunnelId: string, windowMs: number): boolean => {
    const at = this.orphanedAt.get(tunnelId)
    return at !== undefined && Date.now() - at <= windowMs
  }

  /**
   * PublicProxy's `storeUnsettled`: the store is out, or came back (or was
   * found to have lost its contents) within two presence refreshes — the
   * time in which the holders of connected agents write their records back
   * and announce them again. A request for a real tunnel waits then rather
   * than be answered 503 or `404 unknown tunnel`.
   */
  readonly storeUnsettled = (): boolean => {
    if (this.closed) return false
    if (!this.cluster.healthy()) return true
    return Date.now() - Math.max(this.recoveredAt, this.records.lostAt) <= 2 * this.options.presenceRefreshMs
  }

  private noteOrphaned(tunnelId: string, now: number): void {
    this.orphanedAt.delete(tunnelId)
    if (this.orphanedAt.size >= 10_000) {
      const oldest = this.orphanedAt.keys().next().value
      if (oldest !== undefined) this.orphanedAt.delete(oldest)
    }
    this.orphanedAt.set(tunnelId, now)
  }

  /**
   * Tunnel `tunnelId` was revoked here: tell the other instances presence
   * names for it, so they disconnect its agents now rather than at their next
   * record check. Best effort; never rejects.
   */
  async tunnelRevoked(tunnelId: string): Promise<void> {
    if (this.closed) return
    try {
      const holders = await this.lookup(tunnelId)
      const notice = encodeEnvelope(EnvelopeKind.REVOKED, this.sender, envelopeId(tunnelId), null)
      await Promise.all(holders.filter((h) => h !== this.instanceId).map((h) => this.cluster.bus.publish(h, notice).catch(() => false)))
    } catch (error) {
      this.logger.debug({ err: (error as Error).message, tunnel: tunnelId }, 'revocation notice not sent; holders find out at their next record check')
    }
  }

  /**
   * Endpoint side, draining: tells every origin with relay streams here that they are cut in
   * `timeoutMs`, so it closes its relayed WebSocket sessions cleanly first. Best effort.
   */
  leaving(timeoutMs: number): void {
    if (this.closed) return
    const ms = Buffer.alloc(4)
    ms.writeUInt32BE(Math.max(1, Math.min(0xffffffff, Math.floor(timeoutMs))))
    const notice = encodeEnvelope(EnvelopeKind.LEAVING, this.sender, null, ms)
    for (const peer of this.origins.values()) if (peer.session.activeStreams > 0) this.cluster.bus.publish(peer.id, notice).catch(() => false)
  }

  /** Stops the timer, withdraws presence (bounded), ends every relay stream. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    await withTimeout(this.keeper.withdrawAll(), this.options.callTimeoutMs, 'presence withdrawal').catch(() => {})
    for (const id of [...this.endpoints.keys()]) this.dropPeer(id, 'server closing', this.endpoints)
    for (const id of [...this.origins.keys()]) this.dropPeer(id, 'server closing', this.origins)
  }

  // Presence

  private lookup(tunnelId: string): Promise<string[]> {
    // Concurrent lookups for one tunnel (a burst, or held requests polling) share one call.
    let pending = this.lookups.get(tunnelId)
    if (pending === undefined) {
      pending = withTimeout(this.cluster.presence.lookup(tunnelId), this.options.callTimeoutMs, 'presence lookup')
      this.lookups.set(tunnelId, pending)
      const forget = (): void => {
        if (this.lookups.get(tunnelId) === pending) this.lookups.delete(tunnelId)
      }
      pending.then(forget, forget)
    }
    return pending
  }

  private readonly onPresenceError = (error: unknown): void => {
    // Outages are reported once by the health check; this is the detail, at debug.
    this.logger.debug({ err: (error as Error).message }, 'presence update failed')
  }

  // Peers

  private endpointPeer(id: string): Peer {
    let peer = this.endpoints.get(id)
    if (peer === undefined || peer.session.closed) {
      const transport = new BusTransport(this.cluster.bus, id, EnvelopeKind.TO_ENDPOINT, this.transportEvents)
      const session = new Session(transport, {
        role: 'server',
        streamWindow: sessionDefaults.streamWindow,
        // A peer instance carries many tunnels' streams and is trusted: each agent's frames were budgeted where it is connected.
        maxHeldFrames: Number.POSITIVE_INFINITY,
        onProtocolError: (e) => this.protocolError(id, this.endpoints, e.message),
      })
      peer = new Peer(id, session, transport)
      this.endpoints.set(id, peer)
    }
    return peer
  }

  private originPeer(id: string): Peer {
    let peer = this.origins.get(id)
    if (peer === undefined || peer.session.closed) {
      const transport = new BusTransport(this.cluster.bus, id, EnvelopeKind.TO_ORIGIN, this.transportEvents)
      const session = new Session(transport, {
        role: 'agent',
        streamWindow: sessionDefaults.streamWindow,
        maxHeldFrames: Number.POSITIVE_INFINITY,
        onStream: this.onRelayedStream,
        onProtocolError: (e) => this.protocolError(id, this.origins, e.message),
      })
      peer = new Peer(id, session, transport)
      this.origins.set(id, peer)
    }
    return peer
  }

  private protocolError(id: string, peers: Map<string, Peer>, message: string): void {
    this.logger.warn({ peer: id, err: message }, 'relay protocol error; ending the relay streams with that instance')
    this.dropPeer(id, 'relay protocol error', peers)
  }

  /** The instance has no bus subscriber: it is gone. End its streams and skip it in lookups for a while. */
  private peerGone(id: string): void {
    this.gone.set(id, Date.now() + this.options.goneMs)
    this.logger.info({ peer: id }, 'instance gone from the cluster bus; ending the relay streams to it')
    this.dropPeer(id, 'instance gone')
  }

  /** Forgets the virtual connection(s) to `id` first, then resets their streams (handlers may redispatch at once). */
  private dropPeer(id: string, reason: string, only?: Map<string, Peer>): void {
    for (const peers of only ? [only] : [this.endpoints, this.origins]) {
      const peer = peers.get(id)
      if (peer === undefined) continue
      peers.delete(id)
      peer.transport.broken = true
      peer.session.close(reason)
    }
  }

  // Inbound

  private readonly onMessage = (message: Buffer): void => {
    const env = this.envelope
    if (!decodeEnvelope(message, env)) {
      this.droppedMessages++
      return
    }
    if (env.kind === EnvelopeKind.REVOKED) {
      void this.records.revokedElsewhere(env.tunnel)
      return
    }
    if (env.kind === EnvelopeKind.LEAVING) {
      if (this.endpoints.has(env.sender)) this.onPeerLeaving?.(env.sender, env.frame.readUInt32BE(0))
      return
    }
    if (env.kind === EnvelopeKind.PROBE) {
      const now = Date.now()
      const a = this.origins.get(env.sender)
      const b = this.endpoints.get(env.sender)
      if (a) a.lastInbound = now
      if (b) b.lastInbound = now
      return
    }
    const type = env.frame[0]!
    if (env.kind === EnvelopeKind.TO_ENDPOINT) {
      let peer = this.origins.get(env.sender)
      if (peer === undefined) {
        if (type !== FrameType.OPEN) return this.answerUnknown(env.sender, EnvelopeKind.TO_ORIGIN, type, env.frame)
        if (this.closed) return this.answerUnknown(env.sender, EnvelopeKind.TO_ORIGIN, FrameType.OPEN, env.frame)
        peer = this.originPeer(env.sender)
      }
      peer.lastInbound = Date.now()
      // An OPEN's envelope names the tunnel it is for: it reaches onRelayedStream with the frame.
      const route = env.tunnel === '' ? undefined : env.tunnel
      peer.session.receive(env.frame, route)
      if (peer.session.closed && type === FrameType.OPEN && !this.closed) {
        // The origin started a fresh virtual connection (its old one was
        // dropped, e.g. after a bus error) and its stream ids restarted: the
        // old session refused the OPEN as a reused id. Serve it on a new one.
        this.originPeer(env.sender).session.receive(env.frame, route)
      }
      return
    }
    const peer = this.endpoints.get(env.sender)
    if (peer === undefined) return this.answerUnknown(env.sender, EnvelopeKind.TO_ENDPOINT, type, env.frame)
    peer.lastInbound = Date.now()
    peer.session.receive(env.frame)
  }

  /** A frame for a virtual connection this instance no longer has: tell the sender the stream is over. */
  private answerUnknown(to: string, kind: EnvelopeKind, type: number, frame: Buffer): void {
    if (type === FrameType.RESET || frame.length < 5) return
    const reset = encodeReset(frame.readUInt32BE(1), ResetCode.CANCEL, 'unknown relay stream')
    this.cluster.bus.publish(to, encodeEnvelope(kind, this.sender, null, reset)).catch(() => {})
  }

  /** Endpoint side: the origin opened a relay stream; open the real one on a local agent connection. */
  private readonly onRelayedStream = (relay: Stream, head: RequestHead, tunnelId?: string): StreamHandler => {
    const connection = tunnelId === undefined ? undefined : this.registry.get(tunnelId)?.pick()
    if (connection === undefined) {
      // Presence was stale (the agent just left or is moving): withdraw first —
      // the same Redis connection carries the RESET next, so the origin's
      // retry cannot find this instance again.
      if (tunnelId !== undefined) this.keeper.check(tunnelId)
      relay.reset(ResetCode.REFUSED, 'agent not connected to this instance')
      return refusedHandler
    }
    const bridge = new RelayBridge(relay)
    // An origin that takes TRAILERS back said so in its OPEN; the agent is told nothing of it.
    if (head.trailers === true) relay.allowTrailers()
    const { trailers: _relayOnly, ...agentHead } = head
    const agent = connection.session.openStream(agentHead, bridge.fromAgent)
    if (agent === null) {
      relay.reset(ResetCode.REFUSED, 'agent connection going away')
      return refusedHandler
    }
    bridge.attach(agent)
    // "Send the body": the origin holds a request body until this interim
    // head, so a refusal above never costs a body it cannot send again.
    if (head.bodyless !== true && head.upgrade !== true) relay.sendHead(CONTINUE)
    return bridge.fromOrigin
  }

  // Housekeeping: the one timer

  /**
   * The cluster's health flipped (the cluster's onHealthChange, when its
   * creator forwards it; the timer also polls, but could miss an outage
   * shorter than a tick).
   */
  noteHealth(healthy: boolean): void {
    if (this.closed || healthy === this.wasHealthy) return
    this.wasHealthy = healthy
    const now = Date.now()
    if (!healthy) {
      // Pub/sub loses what was in flight while a subscriber is cut off: the
      // relay streams cannot be trusted to finish. End them with a 502 now.
      this.logger.warn({ streams: this.activeStreams }, 'cluster unavailable: ending relay streams; requests needing another instance get 503 until it is back')
      for (const id of [...this.endpoints.keys()]) this.dropPeer(id, 'cluster bus unavailable', this.endpoints)
      for (const id of [...this.origins.keys()]) this.dropPeer(id, 'cluster bus unavailable', this.origins)
    } else {
      this.recoveredAt = now
      this.logger.info({ tunnels: this.announcedTunnels }, 'cluster available again: re-announcing local tunnels')
      this.keeper.announceAll()
      // A Redis that restarted may have come back empty: put back the records of the tunnels connected here.
      void this.records.check()
      this.nextRefreshAt = now + this.options.presenceRefreshMs
    }
  }

  private readonly tick = (): void => {
    const now = Date.now()
    const healthy = this.cluster.healthy()
    this.noteHealth(healthy)
    if (healthy && now >= this.nextRefreshAt) {
      this.nextRefreshAt = now + this.options.presenceRefreshMs
      this.keeper.announceAll()
      void this.records.check()
    }
    for (const [id, until] of this.gone) if (until <= now) this.gone.delete(id)
    if (healthy) {
      this.probe(this.endpoints, now)
      this.probe(this.origins, now)
    }
  }

  /** Silent peers with streams open get a PROBE; PUBLISH counting no receiver means the instance is gone. */
  private probe(peers: Map<string, Peer>, now: number): void {
    for (const peer of peers.values()) {
      if (peer.session.activeStreams === 0 || now - peer.lastInbound < this.options.probeAfterMs) continue
      const id = peer.id
      this.cluster.bus.publish(id, encodeEnvelope(EnvelopeKind.PROBE, this.sender, null, null)).then(
        (delivered) => {
          if (!delivered) this.peerGone(id)
        },
        () => {},
      )
    }
  }
}
