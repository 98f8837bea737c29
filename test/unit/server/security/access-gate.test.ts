import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTVerifyGetKey } from 'jose'
import { AccessGate, accessFromRequest, JwksCache } from '../../../../src/server/security/access-rules.js'
import { ErrorCode } from '../../../../src/errors.js'

function req(headers: Record<string, string | undefined> = {}): IncomingMessage {
  return { headers, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage
}

const basic = (cred: string): string => `Basic ${Buffer.from(cred).toString('base64')}`

class FixedJwks extends JwksCache {
  constructor(private readonly set: JWTVerifyGetKey) {
    super()
  }
  override get(): JWTVerifyGetKey {
    return this.set
  }
}

test('accessFromRequest hashes the password, normalises CIDRs and names bad fields', async () => {
  const access = await accessFromRequest({ basic_auth: 'u:pw', allow_ips: ['10.0.0.0/8', '::1'] }, { allowHttpJwks: false })
  assert.ok(access?.basicAuthHash?.startsWith('scrypt$'))
  assert.ok(!JSON.stringify(access).includes('pw"'))
  assert.deepEqual(access?.allowIps, ['10.0.0.0/8', '::1/128'])
  assert.equal(await accessFromRequest(undefined, { allowHttpJwks: false }), undefined)
  assert.equal(await accessFromRequest({}, { allowHttpJwks: false }), undefined)
  const bad = [
    'string',
    { basic_auth: 'nocolon' },
    { basic_auth: ':pw' },
    { basic_auth: 'u:' },
    { allow_ips: [] },
    { allow_ips: ['nope'] },
    { allow_ips: '10.0.0.0/8' },
    { require_jwt: { issuer: 'x' } },
    { require_jwt: { jwks_url: 'http://127.0.0.1/jwks' } },
    { require_jwt: { jwks_url: 'file:///etc/passwd' } },
    { basic_auth: 'u:p', require_jwt: { jwks_url: 'https://x/jwks' } },
  ]
  for (const input of bad) {
    await assert.rejects(accessFromRequest(input, { allowHttpJwks: false }), (e: { code?: string }) => e.code === ErrorCode.BAD_REQUEST, JSON.stringify(input))
  }
  const http = await accessFromRequest({ require_jwt: { jwks_url: 'http://127.0.0.1/jwks', audience: 'a' } }, { allowHttpJwks: true })
  assert.deepEqual(http?.requireJwt, { jwksUrl: 'http://127.0.0.1/jwks', audience: 'a' })
})

test('IP allow-list: 403 outside, through inside', async () => {
  const gate = new AccessGate({ allowIps: ['10.0.0.0/8'] }, new JwksCache())
  assert.deepEqual(await gate.check(req(), '192.0.2.1'), { code: ErrorCode.IP_NOT_ALLOWED, rule: 'IP allow-list' })
  assert.equal(await gate.check(req(), '10.1.2.3'), null)
})

test('basic auth: 401 with a Basic challenge unless the right user:password comes', async () => {
  const access = await accessFromRequest({ basic_auth: 'alice:wonder' }, { allowHttpJwks: false })
  const gate = new AccessGate(access!, new JwksCache())
  assert.equal(gate.consumesAuthorization, true)
  for (const headers of [{}, { authorization: basic('alice:wrong') }, { authorization: 'Bearer x' }]) {
    const denial = await gate.check(req(headers), '1.2.3.4')
    assert.equal(denial?.code, ErrorCode.AUTH_REQUIRED)
    assert.match(denial?.headers?.['www-authenticate'] ?? '', /^Basic /)
  }
  assert.equal(await gate.check(req({ authorization: basic('alice:wonder') }), '1.2.3.4'), null)
  // Remembered: a second check needs no scrypt and still passes; a wrong one still fails.
  assert.equal(await gate.check(req({ authorization: basic('alice:wonder') }), '1.2.3.4'), null)
  assert.equal((await gate.check(req({ authorization: basic('alice:wonde') }), '1.2.3.4'))?.code, ErrorCode.AUTH_REQUIRED)
})

test('required JWT: issuer, audience and signature checked against the JWKS', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
  const jwks = new FixedJwks(createLocalJWKSet({ keys: [jwk] }))
  const gate = new AccessGate({ requireJwt: { jwksUrl: 'https://issuer/jwks', issuer: 'https://issuer', audience: 'app' } }, jwks)
  const sign = (aud: string, key = privateKey) =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://issuer').setAudience(aud).setExpirationTime('5m').sign(key)
  assert.equal(await gate.check(req({ authorization: `Bearer ${await sign('app')}` }), '1.2.3.4'), null)
  const other = await generateKeyPair('ES256')
  for (const headers of [
    {},
    { authorization: `Bearer ${await sign('other')}` },
    { authorization: `Bearer ${await sign('app', other.privateKey)}` },
    { authorization: 'Bearer junk' },
  ]) {
    const denial = await gate.check(req(headers), '1.2.3.4')
    assert.equal(denial?.code, ErrorCode.AUTH_REQUIRED)
    assert.match(denial?.headers?.['www-authenticate'] ?? '', /^Bearer /)
  }
})
