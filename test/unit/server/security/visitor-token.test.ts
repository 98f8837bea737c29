import assert from 'node:assert/strict'
import { test } from 'node:test'
import { randomBytes } from 'node:crypto'
import type { TunnelRecord } from '../../../../src/cluster/types.js'
import { visitorTokenFor } from '../../../../src/exchange/visitor-token.js'
import { Credentials } from '../../../../src/server/credentials.js'
import { secretBinding, verifyVisitorToken } from '../../../../src/server/security/tunnel-secret.js'

const keyA = randomBytes(32).toString('base64')
const keyB = randomBytes(32).toString('base64')

function record(credentials: Credentials, over: Partial<TunnelRecord> = {}): TunnelRecord {
  return { id: credentials.newTunnelId(), createdAt: 0, lastSeenAt: 0, secretGeneration: 0, nonce: 'n0nce', ...over }
}

test('a visitor token derived by the agent from its secret is accepted by any instance with the key, without storage', () => {
  const credentials = new Credentials([keyA])
  const r = record(credentials)
  const secret = credentials.secretFor(r.id, 0, secretBinding(r))
  const token = visitorTokenFor(r.id, secret)
  assert.notEqual(token, secret)
  assert.equal(verifyVisitorToken(new Credentials([keyA]), r.id, token, r, Date.now()), true)
  // Another tunnel's token, the secret itself, a truncated token, no record: refused.
  const other = record(credentials)
  assert.equal(verifyVisitorToken(credentials, other.id, token, other, Date.now()), false)
  assert.equal(verifyVisitorToken(credentials, r.id, secret, r, Date.now()), false)
  assert.equal(verifyVisitorToken(credentials, r.id, token.slice(1), r, Date.now()), false)
  assert.equal(verifyVisitorToken(credentials, r.id, token, null, Date.now()), false)
})

test('rotation: a new generation changes the token; the old one lasts only through the grace period; an old signing key still verifies', () => {
  const credentials = new Credentials([keyA])
  const r = record(credentials)
  const old = visitorTokenFor(r.id, credentials.secretFor(r.id, 0, secretBinding(r)))
  const now = Date.now()
  const rotated = { ...r, secretGeneration: 1, previousGenerationUntil: now + 60_000 }
  const fresh = visitorTokenFor(r.id, credentials.secretFor(r.id, 1, secretBinding(rotated)))
  assert.notEqual(fresh, old)
  assert.equal(verifyVisitorToken(credentials, r.id, fresh, rotated, now), true)
  assert.equal(verifyVisitorToken(credentials, r.id, old, rotated, now), true, 'during the grace period')
  assert.equal(verifyVisitorToken(credentials, r.id, old, rotated, now + 120_000), false, 'after it')
  // Signing-key rotation: B signs now, A is still accepted.
  assert.equal(verifyVisitorToken(new Credentials([keyB, keyA]), r.id, fresh, rotated, now), true)
  assert.equal(verifyVisitorToken(new Credentials([keyB]), r.id, fresh, rotated, now), false)
})
