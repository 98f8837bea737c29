/**
 * The catalogue of errors adit raises outside the wire protocol. Each class
 * has a stable `code` (never reused) and, where a public client meets it, the
 * HTTP status it maps to. Messages say what happened and what to do next.
 * docs/errors.md lists them; a test keeps the two in step.
 */
export { ProtocolError, ProtocolErrorCode } from './protocol/errors.js'

export const ErrorCode = {
  CONFIG: 'ADIT_ERR_CONFIG',
  UNKNOWN_TUNNEL: 'ADIT_ERR_UNKNOWN_TUNNEL',
  AGENT_NOT_CONNECTED: 'ADIT_ERR_AGENT_NOT_CONNECTED',
  AGENT_RECONNECTING: 'ADIT_ERR_AGENT_RECONNECTING',
  NAME_TAKEN: 'ADIT_ERR_NAME_TAKEN',
  AGENT_TIMEOUT: 'ADIT_ERR_AGENT_TIMEOUT',
  LOCAL_UNREACHABLE: 'ADIT_ERR_LOCAL_UNREACHABLE',
  STREAM_RESET: 'ADIT_ERR_STREAM_RESET',
  BAD_CREDENTIALS: 'ADIT_ERR_BAD_CREDENTIALS',
  BODY_TOO_LARGE: 'ADIT_ERR_BODY_TOO_LARGE',
  SHUTTING_DOWN: 'ADIT_ERR_SHUTTING_DOWN',
  REGISTRATION: 'ADIT_ERR_REGISTRATION',
  BAD_REQUEST: 'ADIT_ERR_BAD_REQUEST',
  STATE_FILE: 'ADIT_ERR_STATE_FILE',
  UNAUTHORIZED: 'ADIT_ERR_UNAUTHORIZED',
  RATE_LIMITED: 'ADIT_ERR_RATE_LIMITED',
  TOO_MANY_TUNNELS: 'ADIT_ERR_TOO_MANY_TUNNELS',
  AUTH_REQUIRED: 'ADIT_ERR_AUTH_REQUIRED',
  IP_NOT_ALLOWED: 'ADIT_ERR_IP_NOT_ALLOWED',
  TOO_MANY_STREAMS: 'ADIT_ERR_TOO_MANY_STREAMS',
  TUNNEL_REVOKED: 'ADIT_ERR_TUNNEL_REVOKED',
  DOCTOR_FAILED: 'ADIT_ERR_DOCTOR_FAILED',
  BAD_RESPONSE: 'ADIT_ERR_BAD_RESPONSE',
  AUTH_THROTTLED: 'ADIT_ERR_AUTH_THROTTLED',
  AUTH_BUSY: 'ADIT_ERR_AUTH_BUSY',
  VISITOR_CREDENTIAL: 'ADIT_ERR_VISITOR_CREDENTIAL',
  TCP_CONNECT: 'ADIT_ERR_TCP_CONNECT',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class AditError extends Error {
  readonly code: ErrorCode
  /** HTTP status a public client sees for this error, when it reaches one. */
  readonly status: number
  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AditError'
    this.code = code
    this.status = status
  }
}

/** A bad option or environment variable; the message names it. */
export class ConfigError extends AditError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.CONFIG, 500, message, options)
    this.name = 'ConfigError'
  }
}

/** What a public client is told, per code: the status and the one-line advice. */
export const publicErrors = {
  [ErrorCode.UNKNOWN_TUNNEL]: { status: 404, text: 'unknown tunnel: check the URL; the agent prints its public URL when it starts' },
  [ErrorCode.AGENT_NOT_CONNECTED]: { status: 502, text: 'agent not connected: start the agent (adit agent --server … --local …) or check its logs' },
  [ErrorCode.AGENT_RECONNECTING]: { status: 503, text: "agent reconnecting: the tunnel's agent was just here and did not come back in time; retry shortly" },
  [ErrorCode.AGENT_TIMEOUT]: { status: 504, text: 'timeout waiting for agent: the local service did not answer in time' },
  [ErrorCode.LOCAL_UNREACHABLE]: { status: 502, text: 'local service unreachable: the agent could not connect to its --local target; is the service running?' },
  [ErrorCode.STREAM_RESET]: { status: 502, text: 'the agent aborted the request' },
  [ErrorCode.BAD_RESPONSE]: { status: 502, text: 'bad response from the tunnel: its service (or agent) sent a response head the server cannot pass on' },
  [ErrorCode.BODY_TOO_LARGE]: { status: 413, text: 'request body too large for this tunnel' },
  [ErrorCode.SHUTTING_DOWN]: { status: 503, text: 'server is shutting down: retry in a moment' },
  [ErrorCode.BAD_REQUEST]: { status: 400, text: 'bad request' },
  [ErrorCode.UNAUTHORIZED]: {
    status: 401,
    text: 'unauthorized: send a valid API key or token (Authorization: Bearer …), or the tunnel secret for tunnel operations',
  },
  [ErrorCode.RATE_LIMITED]: { status: 429, text: 'too many requests: slow down and retry after the time in Retry-After' },
  [ErrorCode.TOO_MANY_TUNNELS]: {
    status: 429,
    text: 'this API key has reached its tunnel limit: delete a tunnel (DELETE /tunnels/{id}) or ask the operator to raise ADIT_MAX_TUNNELS_PER_KEY',
  },
  [ErrorCode.AUTH_REQUIRED]: { status: 401, text: 'this tunnel requires authentication: send the credentials its owner gave you' },
  [ErrorCode.IP_NOT_ALLOWED]: { status: 403, text: "forbidden: your address is not on this tunnel's allow-list" },
  [ErrorCode.TOO_MANY_STREAMS]: { status: 429, text: 'this tunnel has too many requests in flight: retry after the time in Retry-After' },
  [ErrorCode.TUNNEL_REVOKED]: { status: 410, text: 'this tunnel was revoked by its owner or the operator' },
  [ErrorCode.AUTH_THROTTLED]: {
    status: 429,
    text: 'too many failed sign-in attempts from your address: wait the seconds in Retry-After, then send the right credentials',
  },
  [ErrorCode.AUTH_BUSY]: { status: 503, text: 'the server is checking too many passwords right now: retry after the time in Retry-After' },
  [ErrorCode.VISITOR_CREDENTIAL]: {
    status: 401,
    text: "this TCP tunnel needs a visitor credential: pass adit connect the --token its agent printed (or the credentials of the tunnel's basic-auth or JWT rule)",
  },
} as const satisfies Partial<Record<ErrorCode, { status: number; text: string }>>
export type PublicErrorCode = keyof typeof publicErrors
