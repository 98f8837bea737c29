/**
 * Bounds on cluster calls made while a public request waits. The Redis
 * backend fails fast when its connection is down, but a Redis that accepts
 * and never answers would hold a request for as long as the kernel's
 * keepalive takes; these turn that into ADIT_ERR_CLUSTER_UNAVAILABLE (503
 * with Retry-After to the client) after `ms`. One timer per call, not per chunk.
 */
import { ClusterError, ClusterErrorCode } from '../../cluster/errors.js'
import type { TunnelStore } from '../../cluster/types.js'

/** Resolves as `promise` does, or rejects with ADIT_ERR_CLUSTER_UNAVAILABLE after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ClusterError(ClusterErrorCode.UNAVAILABLE, `${what}: the cluster store did not answer within ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** The same store with its reads (the request and connect paths) bounded by `ms`. */
export function boundedStore(store: TunnelStore, ms: number): TunnelStore {
  return {
    get: (id) => withTimeout(store.get(id), ms, 'tunnel record lookup'),
    isRevoked: (id) => withTimeout(store.isRevoked(id), ms, 'revocation check'),
    put: (record) => store.put(record),
    create: (record) => store.create(record),
    touch: (id, at) => store.touch(id, at),
    revoke: (id) => store.revoke(id),
    idleSince: (before, limit) => store.idleSince(before, limit),
    countByOwner: (owner) => store.countByOwner(owner),
    ...(store.epoch !== undefined ? { epoch: () => withTimeout(store.epoch!(), ms, 'store epoch') } : {}),
  }
}
