import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TunnelRecord, TunnelStore } from '../../cluster/types.js'
import { ErrorCode, publicErrors, type PublicErrorCode } from '../../errors.js'
import type { Credentials } from '../credentials.js'
import { isValidTunnelId } from '../tunnel-routes.js'
import { bearerOf, secretBinding, verifyTunnelSecret } from './tunnel-secret.js'
import type { FailureThrottle } from './failure-throttle.js'

export interface TunnelAdminContext {
  credentials: Credentials
  store: TunnelStore
  /** SHA-256 of `ADIT_ADMIN_TOKEN`, when set: may delete any tunnel. */
  adminTokenHash: Buffer | undefined
  /** How long the previous secret stays valid after a rotation (ms). */
  rotationGraceMs: number
  /** Revokes the tunnel everywhere and disconnects its agents here. */
  revoke(id: string): Promise<void>
  /** Back-off for wrong tokens per client address (shared with the dashboard's admin token). */
  throttle?: FailureThrottle
  /** This request's throttle key (its client address). */
  clientKey?: string
  now?: () => number
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(text)
}

export function sendJsonError(res: ServerResponse, code: PublicErrorCode, headers: Record<string, string> = {}, detail?: string): void {
  const { status, text } = publicErrors[code]
  json(res, status, { error: code, message: detail ?? text }, headers)
}

/** `/tunnels/{id}` or `/tunnels/{id}/rotate` → the id and action, or null for any other path. */
export function routeTunnelAdmin(path: string): { id: string; action: 'rotate' | 'delete' } | null {
  const match = /^\/tunnels\/([^/]+)(\/rotate)?$/.exec(path)
  if (!match || !isValidTunnelId(match[1]!)) return null
  return { id: match[1]!, action: match[2] === undefined ? 'delete' : 'rotate' }
}

function isAdmin(token: string, adminTokenHash: Buffer | undefined): boolean {
  if (adminTokenHash === undefined) return false
  return timingSafeEqual(createHash('sha256').update(token, 'utf8').digest(), adminTokenHash)
}

/**
 * `POST /tunnels/{id}/rotate` (tunnel secret) → `200 {id, secret, generation, previous_valid_until}`;
 * `DELETE /tunnels/{id}` (tunnel secret or admin token) → `204`, the tunnel revoked and its agents disconnected.
 */
export async function handleTunnelAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  route: { id: string; action: 'rotate' | 'delete' },
  ctx: TunnelAdminContext,
): Promise<void> {
  const expected = route.action === 'rotate' ? 'POST' : 'DELETE'
  if (req.method !== expected) return json(res, 405, { error: ErrorCode.BAD_REQUEST, message: `use ${expected}` }, { allow: expected })
  req.resume()
  const now = (ctx.now ?? Date.now)()
  const token = bearerOf(req.headers.authorization)
  if (token === null) return sendJsonError(res, ErrorCode.UNAUTHORIZED, { 'www-authenticate': 'Bearer' })
  const { throttle, clientKey = '' } = ctx
  const attempt = throttle?.begin(clientKey)
  if (attempt !== undefined && !attempt.ok) return sendJsonError(res, ErrorCode.AUTH_THROTTLED, { 'retry-after': String(attempt.retryAfterSec) })
  let outcome: 'good' | 'wrong' | 'none' = 'none'
  try {
    const verdict = await authorizeTunnelOperation(route, token, ctx, now)
    if (verdict.kind === 'error') return sendJsonError(res, verdict.code, verdict.headers)
    outcome = verdict.kind
    if (verdict.kind === 'wrong') return sendJsonError(res, ErrorCode.UNAUTHORIZED, { 'www-authenticate': 'Bearer' })
    await perform(res, route, ctx, verdict.record, now)
  } finally {
    if (outcome === 'none') throttle?.cancel(clientKey)
    else throttle?.end(clientKey, outcome === 'good')
  }
}

type OperationVerdict =
  { kind: 'good'; record: TunnelRecord | null } | { kind: 'wrong' } | { kind: 'error'; code: PublicErrorCode; headers?: Record<string, string> }

/** Whether `token` may perform `route` (the tunnel's secret; for a delete also the admin token). */
async function authorizeTunnelOperation(
  route: { id: string; action: 'rotate' | 'delete' },
  token: string,
  ctx: TunnelAdminContext,
  now: number,
): Promise<OperationVerdict> {
  const { id } = route
  if (await ctx.store.isRevoked(id)) return { kind: 'error', code: ErrorCode.TUNNEL_REVOKED }
  const record = await ctx.store.get(id)
  const admin = route.action === 'delete' && isAdmin(token, ctx.adminTokenHash)
  // No record, no tunnel (its secret cannot be checked); the operator may still revoke a real id ahead of time.
  if (record === null && !(admin && ctx.credentials.isSignedId(id))) return { kind: 'error', code: ErrorCode.UNKNOWN_TUNNEL }
  const owner = verifyTunnelSecret(ctx.credentials, id, token, record, now)
  return owner || admin ? { kind: 'good', record } : { kind: 'wrong' }
}

async function perform(
  res: ServerResponse,
  route: { id: string; action: 'rotate' | 'delete' },
  ctx: TunnelAdminContext,
  record: TunnelRecord | null,
  now: number,
): Promise<void> {
  const { id } = route
  if (route.action === 'delete') {
    await ctx.revoke(id)
    res.writeHead(204, { 'cache-control': 'no-store' })
    res.end()
    return
  }
  if (record === null) return sendJsonError(res, ErrorCode.UNKNOWN_TUNNEL)
  const generation = record.secretGeneration + 1
  const previousValidUntil = now + ctx.rotationGraceMs
  const rotated = { ...record, secretGeneration: generation, previousGenerationUntil: previousValidUntil }
  await ctx.store.put(rotated)
  json(res, 200, {
    id,
    secret: ctx.credentials.secretFor(id, generation, secretBinding(rotated)),
    generation,
    previous_valid_until: new Date(previousValidUntil).toISOString(),
  })
}
