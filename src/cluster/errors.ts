/**
 * Errors the cluster layer raises. Each has a stable `code`; tests assert the
 * code, never the message. A Redis failure reaches the caller as one of these
 * (with the driver's error as `cause`), never as an uncaught exception.
 */
export const ClusterErrorCode = {
  /** The backing store did not answer (Redis down, connection lost, queue full). */
  UNAVAILABLE: 'ADIT_ERR_CLUSTER_UNAVAILABLE',
  /** The cluster was closed; create a new one. */
  CLOSED: 'ADIT_ERR_CLUSTER_CLOSED',
  /** A factory option is missing or out of range; the message names it. */
  BAD_OPTION: 'ADIT_ERR_CLUSTER_OPTION',
  /** A record handed to the store is malformed, or a stored one cannot be read back. */
  BAD_RECORD: 'ADIT_ERR_CLUSTER_RECORD',
  /** `bus.subscribe` was called twice on one bus. */
  BUS_SUBSCRIBED: 'ADIT_ERR_BUS_SUBSCRIBED',
} as const
export type ClusterErrorCode = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode]

export class ClusterError extends Error {
  readonly code: ClusterErrorCode
  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ClusterError'
    this.code = code
  }
}

/** A ClusterError for the case where the cluster was already closed. */
export function closedError(): ClusterError {
  return new ClusterError(ClusterErrorCode.CLOSED, 'the cluster was closed; create a new one')
}
