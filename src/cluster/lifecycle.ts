/**
 * Open/closed state shared by the parts of one cluster, and the one place a
 * backend's failure becomes a ClusterError with a stable code.
 */
import { ClusterError, ClusterErrorCode, closedError } from './errors.js'

export class Lifecycle {
  closed = false

  /** Throws ADIT_ERR_CLUSTER_CLOSED once the cluster was closed. */
  check(): void {
    if (this.closed) throw closedError()
  }

  /** What a failed backend call surfaces as: our own errors pass through, the rest is UNAVAILABLE (or CLOSED). */
  fail(cause: unknown): ClusterError {
    if (cause instanceof ClusterError) return cause
    if (this.closed) return new ClusterError(ClusterErrorCode.CLOSED, 'the cluster was closed during the call', { cause })
    return new ClusterError(ClusterErrorCode.UNAVAILABLE, 'the cluster store did not answer; retry later', { cause })
  }
}
