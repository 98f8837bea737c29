import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TunnelStore } from '../cluster/types.js'
import type { Credentials } from './credentials.js'
import { readSmallBody } from './request-body.js'
import { AditError } from '../errors.js'
import type { ServerSecurity } from './security/server-security.js'
import { newNonce, secretBinding } from './security/tunnel-secret.js'
import type { TunnelRecord } from '../cluster/types.js'

export interface RegistrationContext {
  credentials: Credentials
  store: TunnelStore
  publicUrlFor(req: IncomingMessage, id: string): string
  /** Rate limit, API key / JWT, per-key cap and access rules (see security/server-security.ts). */
  security?: ServerSecurity
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

/**
 * `POST /register` → `201 {id, secret, public_url}`. The secret is derived
 * from the id under the signing key and never stored; the record keeps what
 * must survive a restart (creation time, options).
 */
/** Names nobody gets: they would look like the server's own endpoints or infrastructure. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'www',
  'api',
  'app',
  'admin',
  'dashboard',
  'pub',
  'ws',
  'register',
  'healthz',
  'readyz',
  'metrics',
  'mail',
  'ftp',
  'localhost',
  'status',
  'static',
  'assets',
  'docs',
  'adit',
])

/** Why a requested name cannot be a tunnel id, or null when it can. */
export function nameProblem(name: string, credentials: Credentials): string | null {
  if (!/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/.test(name)) return 'a name is 3–63 lowercase letters, digits or dashes, not starting or ending with a dash'
  if (RESERVED_NAMES.has(name)) return `the name ${name} is reserved`
  // 16 base32 characters is the shape of a signed id: names must never be mistaken for one.
  if (/^[a-z2-7]{16}$/.test(name) || credentials.isSignedId(name)) return 'names of 16 letters and digits 2–7 are kept for generated ids'
  return null
}

/**
 * `POST /register` → `201 {id, secret, public_url}`. The secret is derived
 * from the id under the signing key and never stored; the record keeps what
 * must survive a restart (creation time, options). A `{"name": "myapp"}`
 * body asks for that name as the id: given when free and allowed (409 when
 * taken), and the name stays this tunnel's while its credentials do.
 */
export async function handleRegister(req: IncomingMessage, res: ServerResponse, ctx: RegistrationContext): Promise<void> {
  const grant = ctx.security === undefined ? { ownerKeyHash: undefined } : await ctx.security.authorizeRegistration(req, res)
  if (grant === null) return
  let parsed: Record<string, unknown> = {}
  const body = await readSmallBody(req, 16 * 1024)
  if (body === null) return json(res, 413, { error: 'ADIT_ERR_BODY_TOO_LARGE', message: 'registration body over 16 KiB' })
  let request: { name?: unknown } = {}
  if (body.length > 0) {
    try {
      const value: unknown = JSON.parse(body.toString('utf8'))
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object')
      parsed = value as Record<string, unknown>
      request = parsed as { name?: unknown }
    } catch {
      return json(res, 400, { error: 'ADIT_ERR_BAD_REQUEST', message: 'registration body must be a JSON object (or empty)' })
    }
  }
  let extra = {}
  try {
    extra = ctx.security === undefined ? {} : await ctx.security.recordFields(grant, parsed)
  } catch (error) {
    if (!(error instanceof AditError)) throw error
    return json(res, error.status, { error: error.code, message: error.message })
  }
  const now = Date.now()
  // A fresh nonce per registration: the secret is bound to it and to the rules (security/tunnel-secret.ts).
  const base = { createdAt: now, lastSeenAt: now, secretGeneration: 0, nonce: newNonce(), ...extra }
  if (request.name !== undefined) {
    if (typeof request.name !== 'string') return json(res, 400, { error: 'ADIT_ERR_BAD_REQUEST', message: 'name must be a string' })
    const name = request.name.toLowerCase()
    const problem = nameProblem(name, ctx.credentials)
    if (problem !== null) return json(res, 400, { error: 'ADIT_ERR_BAD_REQUEST', message: problem })
    const record: TunnelRecord = { id: name, name, ...base }
    if (!(await ctx.store.create(record)))
      return json(res, 409, { error: 'ADIT_ERR_NAME_TAKEN', message: `the name ${name} belongs to another tunnel; choose another` })
    return json(res, 201, { id: name, secret: ctx.credentials.secretFor(name, 0, secretBinding(record)), public_url: ctx.publicUrlFor(req, name) })
  }
  const record: TunnelRecord = { id: ctx.credentials.newTunnelId(), ...base }
  // create, not put: an id (48 random bits) that ever existed is never handed out again.
  if (!(await ctx.store.create(record))) throw new Error(`generated tunnel id ${record.id} already exists`)
  json(res, 201, { id: record.id, secret: ctx.credentials.secretFor(record.id, 0, secretBinding(record)), public_url: ctx.publicUrlFor(req, record.id) })
}
