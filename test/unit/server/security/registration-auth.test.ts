import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SignJWT } from 'jose'
import { RegistrationAuth, sha256Hex, type RegistrationAuthOptions } from '../../../../src/server/security/registration-auth.js'
import { ErrorCode } from '../../../../src/errors.js'

const none: RegistrationAuthOptions = {
  apiKeys: [],
  jwtSecret: undefined,
  jwksUrl: undefined,
  jwtIssuer: undefined,
  jwtAudience: undefined,
  allowOpenRegistration: false,
}
const keyA = 'key-a-0123456789abcdef'
const keyB = 'key-b-0123456789abcdef'
const jwtSecret = 'j'.repeat(40)

test('nothing configured and not on Cloud Run: open registration', async () => {
  const auth = new RegistrationAuth(none, {})
  assert.equal(auth.open, true)
  assert.deepEqual(await auth.authenticate(undefined), { ok: true, owner: undefined })
})

test('on Cloud Run without auth the server refuses to start, unless told to allow it', () => {
  assert.throws(
    () => new RegistrationAuth(none, { K_SERVICE: 'adit' }),
    (e: { code?: string; message: string }) => e.code === ErrorCode.CONFIG && /Cloud Run/.test(e.message) && /ADIT_API_KEYS/.test(e.message),
  )
  assert.equal(new RegistrationAuth({ ...none, allowOpenRegistration: true }, { K_SERVICE: 'adit' }).open, true)
  assert.equal(new RegistrationAuth({ ...none, apiKeys: [keyA] }, { K_SERVICE: 'adit' }).open, false)
})

test('API keys: several accepted, the owner is the key hash, anything else is refused', async () => {
  const auth = new RegistrationAuth({ ...none, apiKeys: [keyA, keyB] }, {})
  assert.deepEqual(await auth.authenticate(`Bearer ${keyA}`), { ok: true, owner: sha256Hex(keyA) })
  assert.deepEqual(await auth.authenticate(`bearer ${keyB}`), { ok: true, owner: sha256Hex(keyB) })
  for (const header of [undefined, '', 'Bearer', `Bearer ${keyA}x`, `Basic ${keyA}`, keyA]) {
    assert.equal((await auth.authenticate(header)).ok, false, String(header))
  }
})

test('short API keys are a config error', () => {
  assert.throws(
    () => new RegistrationAuth({ ...none, apiKeys: ['short'] }, {}),
    (e: { code?: string }) => e.code === ErrorCode.CONFIG,
  )
  assert.throws(
    () => new RegistrationAuth({ ...none, jwtSecret: 'short' }, {}),
    (e: { code?: string }) => e.code === ErrorCode.CONFIG,
  )
  assert.throws(
    () => new RegistrationAuth({ ...none, jwtSecret, jwksUrl: 'https://x/jwks' }, {}),
    (e: { code?: string }) => e.code === ErrorCode.CONFIG,
  )
})

test('HS256 JWTs: issuer and audience checked, expired or foreign tokens refused', async () => {
  const auth = new RegistrationAuth({ ...none, jwtSecret, jwtIssuer: 'https://issuer', jwtAudience: 'adit' }, {})
  const key = new TextEncoder().encode(jwtSecret)
  const good = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://issuer')
    .setAudience('adit')
    .setSubject('ci')
    .setExpirationTime('5m')
    .sign(key)
  const verdict = await auth.authenticate(`Bearer ${good}`)
  assert.equal(verdict.ok, true)
  assert.match(verdict.ok ? (verdict.owner ?? '') : '', /^jwt:[0-9a-f]{64}$/)
  const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://issuer').setAudience('other').setExpirationTime('5m').sign(key)
  const expired = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://issuer')
    .setAudience('adit')
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(key)
  const otherKey = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://issuer')
    .setAudience('adit')
    .sign(new TextEncoder().encode('k'.repeat(40)))
  for (const token of [wrongAud, expired, otherKey, 'a.b.c']) assert.equal((await auth.authenticate(`Bearer ${token}`)).ok, false)
})
