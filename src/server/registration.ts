import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TunnelStore } from '../cluster/types.js'
import type { Credentials } from './credentials.js'
import { readSmallBody } from './request-body.js'

export interface RegistrationContext {
  credentials: Credentials
  store: TunnelStore | undefined
  publicUrlFor(req: IncomingMessage, id: string): string
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
export async function handleRegister(req: IncomingMessage, res: ServerResponse, ctx: RegistrationContext): Promise<void> {
  const body = await readSmallBody(req, 16 * 1024)
  if (body === null) return json(res, 413, { error: 'ADIT_ERR_BODY_TOO_LARGE', message: 'registration body over 16 KiB' })
  if (body.length > 0) {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
    } catch {
      return json(res, 400, { error: 'ADIT_ERR_BAD_REQUEST', message: 'registration body must be a JSON object (or empty)' })
    }
  }
  const id = ctx.credentials.newTunnelId()
  const now = Date.now()
  await ctx.store?.put({ id, createdAt: now, lastSeenAt: now, secretGeneration: 0 })
  json(res, 201, { id, secret: ctx.credentials.secretFor(id), public_url: ctx.publicUrlFor(req, id) })
}
