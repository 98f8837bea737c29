/**
 * Checks and (de)serialises TunnelRecords. Both backends check records the
 * same way, so a malformed record fails identically in memory and in Redis.
 */
import { ClusterError, ClusterErrorCode } from './errors.js'
import type { TunnelRecord } from './types.js'

function bad(what: string): never {
  throw new ClusterError(ClusterErrorCode.BAD_RECORD, `tunnel record: ${what}`)
}

/** Throws ADIT_ERR_CLUSTER_RECORD naming the first bad field. */
export function checkRecord(record: TunnelRecord): void {
  if (record === null || typeof record !== 'object') bad('not an object')
  checkId(record.id)
  if (!Number.isFinite(record.createdAt)) bad('createdAt must be a finite number')
  if (!Number.isFinite(record.lastSeenAt)) bad('lastSeenAt must be a finite number')
  if (!Number.isInteger(record.secretGeneration) || record.secretGeneration < 0) {
    bad('secretGeneration must be a non-negative integer')
  }
  if (record.ownerKeyHash !== undefined && (typeof record.ownerKeyHash !== 'string' || record.ownerKeyHash === '')) {
    bad('ownerKeyHash must be a non-empty string when present')
  }
  if (record.nonce !== undefined && (typeof record.nonce !== 'string' || record.nonce === '')) bad('nonce must be a non-empty string when present')
}

export function checkId(id: string): void {
  if (typeof id !== 'string' || id === '') bad('id must be a non-empty string')
}

/**
 * The stored form: JSON without `lastSeenAt`, which lives beside it so a
 * touch rewrites one number instead of the whole record.
 */
export function encodeRecord(record: TunnelRecord): string {
  const { lastSeenAt: _lastSeenAt, ...rest } = record
  return JSON.stringify(rest)
}

export function decodeRecord(json: string, lastSeenAt: string | number): TunnelRecord {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (cause) {
    throw new ClusterError(ClusterErrorCode.BAD_RECORD, 'tunnel record: stored JSON is corrupt', { cause })
  }
  if (parsed === null || typeof parsed !== 'object') bad('stored value is not an object')
  const record = { ...(parsed as Omit<TunnelRecord, 'lastSeenAt'>), lastSeenAt: Number(lastSeenAt) }
  checkRecord(record)
  return record
}
