/**
 * Wire constants of the `adit.v2` protocol. `docs/protocol.md` is the spec;
 * these values never change meaning once shipped — new types get new numbers.
 */

/** WebSocket subprotocol names, negotiated at upgrade. */
export const Subprotocol = {
  /** Binary, streaming, flow-controlled. The adit agent always uses it. */
  V2: 'adit.v2',
  /** The original JSON frames (whole bodies, base64). Also chosen when an agent offers none. */
  JSON_V1: 'adit.json.v1',
} as const
export type Subprotocol = (typeof Subprotocol)[keyof typeof Subprotocol]

/** Frame type byte. */
export const FrameType = {
  /** server→agent: request head (JSON). Opens the stream. */
  OPEN: 0x01,
  /** agent→server: response head (JSON). */
  HEAD: 0x02,
  /** both ways: raw body bytes. */
  DATA: 0x03,
  /** both ways: this side's body is complete. */
  END: 0x04,
  /** both ways: abort the stream; payload is a u32 code and an optional UTF-8 reason. */
  RESET: 0x05,
  /** both ways: flow-control credit; payload is a u32 byte increment. */
  WINDOW: 0x06,
  /** server→agent, stream 0: take no new streams here; payload is u32 last stream id + u32 code. */
  GOAWAY: 0x07,
  /**
   * both ways: trailer fields (JSON), and this side's body is complete (as
   * HTTP/2's HEADERS with END_STREAM after DATA). Sent only to a peer that
   * named `trailers` in `Adit-Features`.
   */
  TRAILERS: 0x08,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

const frameTypeNames: Record<number, string> = Object.fromEntries(Object.entries(FrameType).map(([name, value]) => [value, name]))

/**
 * Flag in the type byte: this frame also ends its sender's body, as HTTP/2's
 * END_STREAM on HEADERS and DATA. Allowed on OPEN, HEAD and DATA only, and
 * sent only to a peer that named `end-flag` in the upgrade's `Adit-Features`
 * (docs/protocol.md, "Features"); a frame with it set is that frame plus END.
 */
export const FLAG_END = 0x80

/**
 * Flag in the type byte of a DATA frame: the sender had more bytes to send
 * but this frame spent its last credit (QUIC's STREAM_DATA_BLOCKED, as a
 * bit). Its receiver may grow the stream's window (Stream's autotuning).
 * Sent only to a peer that named `window-blocked`; carries no meaning
 * beyond the hint, so a receiver may ignore it.
 */
export const FLAG_BLOCKED = 0x40

/** Upgrade request header (agent → server) and 101 header (server → agent) listing optional features both sides speak. */
export const FEATURES_HEADER = 'adit-features'

/** Optional protocol features, named in `Adit-Features` (comma-separated). */
export const Feature = {
  /** END folded into OPEN/HEAD/DATA as FLAG_END. */
  END_FLAG: 'end-flag',
  /** TRAILERS frames: HTTP trailer fields carried both ways (gRPC's grpc-status rides in them). */
  TRAILERS: 'trailers',
  /** FLAG_BLOCKED on DATA: the sender ran out of credit (a hint to grow the window). */
  WINDOW_BLOCKED: 'window-blocked',
} as const

/** Every optional feature this implementation speaks, as the agent offers them and the server grants them. */
export const SPOKEN_FEATURES: readonly string[] = [Feature.END_FLAG, Feature.TRAILERS, Feature.WINDOW_BLOCKED]

/** The features both sides speak: those in `offered` (an `Adit-Features` value) that this side speaks too. */
export function agreedFeatures(offered: string | string[] | undefined): Set<string> {
  const out = new Set<string>()
  for (const name of parseFeatures(offered)) if (SPOKEN_FEATURES.includes(name)) out.add(name)
  return out
}

/** The feature names in an `Adit-Features` header value. */
export function parseFeatures(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>()
  for (const part of (Array.isArray(value) ? value.join(',') : (value ?? '')).split(',')) {
    const name = part.trim().toLowerCase()
    if (name !== '') out.add(name)
  }
  return out
}

/** `type (u8) | stream id (u32 BE)`. */
export const HEADER_LENGTH = 5

/** Largest stream id; ids are never reused on a connection, so a session ends before it wraps. */
export const MAX_STREAM_ID = 0xffff_ffff

/**
 * Credit every stream starts with, in each direction, before any WINDOW frame.
 * Same as yamux: large enough to fill a loopback pipe, small enough that
 * 100 streams stay under 26 MiB in the worst case.
 */
export const INITIAL_WINDOW = 256 * 1024

/**
 * Largest receive window a stream grows to (see Stream's autotuning): 8 MiB
 * keeps one stream at ~160 MiB/s over a 50 ms round trip, where a fixed
 * 1 MiB window allows ~20 MiB/s.
 */
export const MAX_STREAM_WINDOW = 8 * 1024 * 1024

/** Largest DATA payload a sender puts in one frame; bigger chunks are split (as views). */
export const MAX_DATA_PAYLOAD = 64 * 1024

/** RESET codes. Never reuse a number. */
export const ResetCode = {
  /** Generic: the stream was cancelled by its opener (public client went away). */
  CANCEL: 1,
  /** The agent could not reach its local service (connection refused, DNS...). */
  LOCAL_UNREACHABLE: 2,
  /** The local service or the agent timed out. */
  TIMEOUT: 3,
  /** A peer broke flow control or the stream state machine. */
  PROTOCOL_ERROR: 4,
  /** The local service failed mid-response. */
  LOCAL_ERROR: 5,
  /** The agent refuses the stream (going away, or over its concurrency cap). */
  REFUSED: 6,
  /** Internal error on the side that sends it. */
  INTERNAL: 7,
  /** A body exceeded what the receiver accepts (413 to the public client). */
  TOO_LARGE: 8,
} as const
export type ResetCode = (typeof ResetCode)[keyof typeof ResetCode]

/** GOAWAY codes. */
export const GoAwayCode = {
  /** Planned: server draining or connection rotation. Reconnect at once. */
  NORMAL: 0,
  /** The tunnel was revoked: do not reconnect. */
  REVOKED: 1,
  /** Protocol error on this connection. */
  PROTOCOL_ERROR: 2,
} as const
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode]

/** Request head carried by OPEN. Headers are `[name, value]` pairs in arrival order. */
export interface RequestHead {
  method: string
  /** Path and query, as the local service must see them (prefix already stripped). */
  path: string
  headers: Array<[string, string]>
  /** Set when the public client asked for a protocol upgrade (WebSocket). */
  upgrade?: boolean
  /**
   * A TCP visitor's connection (`adit connect`): set only by the server, after
   * it checked the visitor's credential; always with `upgrade`. After the
   * agent's 101 the stream carries the TCP bytes both ways, END is a FIN.
   */
  tcp?: boolean
  /** The server's request id, so both sides log the same id. */
  requestId?: string
  /** The request has no body: END follows at once and the agent sends none to its service. */
  bodyless?: boolean
  /**
   * The opener takes TRAILERS on this stream even where its connection did
   * not negotiate `trailers`: a relay link between instances, which has no
   * upgrade to negotiate on (docs/cluster.md). Agents ignore it.
   */
  trailers?: boolean
}

/** Response head carried by HEAD. */
export interface ResponseHead {
  status: number
  headers: Array<[string, string]>
  statusText?: string
  /** The agent's route that took the request (`/api → http://127.0.0.1:4000`), for the server's dashboard; never sent to the visitor. */
  route?: string
  /** The agent's rule that answered instead of the service (`webhook github: …`, `route /old → 410`); never sent to the visitor. */
  answeredBy?: string
}

/** The longest `route` / `answeredBy` a HEAD may carry; longer ones are dropped (they are labels, not data). */
export const MAX_HEAD_LABEL = 300

/** Trailer fields carried by TRAILERS, `[name, value]` pairs in arrival order (as in heads). */
export type TrailerFields = Array<[string, string]>

/** A decoded frame. `payload` is a view into the received message, never a copy. */
export interface Frame {
  /** The frame type, without FLAG_END. */
  type: number
  streamId: number
  payload: Buffer
  /** FLAG_END was set: the sender's body ends with this frame. */
  end: boolean
  /** FLAG_BLOCKED was set (DATA only): the sender ran out of credit with more to send. */
  blocked: boolean
}

/** Frame type name for logs: `stringifyFrame` never prints payload bytes. */
export function frameTypeName(type: number): string {
  return frameTypeNames[type] ?? `UNKNOWN(0x${type.toString(16).padStart(2, '0')})`
}

export function stringifyFrame(frame: Frame): string {
  return `${frameTypeName(frame.type)}${frame.end ? '+END' : ''}${frame.blocked ? '+BLOCKED' : ''} stream=${frame.streamId} len=${frame.payload.length}`
}
