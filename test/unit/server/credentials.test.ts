import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Credentials, ID_LENGTH } from '../../../src/server/credentials.js'
import { ErrorCode } from '../../../src/errors.js'
import { isValidTunnelId } from '../../../src/server/tunnel-routes.js'

const keyA = 'a'.repeat(20) + randomBytes(16).toString('hex')
const keyB = 'b'.repeat(20) + randomBytes(16).toString('hex')

function randomBase32(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const bytes = randomBytes(length)
  let out = ''
  for (const byte of bytes) out += alphabet[byte & 31]
  return out
}

test('tunnel ids are 16 lowercase base32 characters, routable, distinct and signed under the key', () => {
  const credentials = new Credentials([keyA])
  const ids = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const id = credentials.newTunnelId()
    assert.equal(id.length, ID_LENGTH)
    assert.match(id, /^[a-z2-7]{16}$/)
    assert.equal(isValidTunnelId(id), true, id)
    assert.equal(credentials.isSignedId(id), true, id)
    ids.add(id)
  }
  assert.equal(ids.size, 200)
})

test('a random 16-character id, a tampered id and malformed ids are not signed', () => {
  const credentials = new Credentials([keyA])
  // 32 MAC bits: 200 random guesses all fail unless the MAC is broken.
  for (let i = 0; i < 200; i++) assert.equal(credentials.isSignedId(randomBase32(16)), false)
  const id = credentials.newTunnelId()
  const last = id[15] === 'a' ? 'b' : 'a'
  assert.equal(credentials.isSignedId(id.slice(0, 15) + last), false)
  const first = id[0] === 'a' ? 'b' : 'a'
  assert.equal(credentials.isSignedId(first + id.slice(1)), false)
  assert.equal(credentials.isSignedId(id.slice(0, 15)), false)
  assert.equal(credentials.isSignedId(`${id}a`), false)
  assert.equal(credentials.isSignedId(id.toUpperCase()), false)
  assert.equal(credentials.isSignedId(`${id.slice(0, 15)}1`), false)
  assert.equal(credentials.isSignedId(''), false)
})

test('an id signed under one key is not signed under another', () => {
  const id = new Credentials([keyA]).newTunnelId()
  assert.equal(new Credentials([keyB]).isSignedId(id), false)
})

test('secrets carry 256 bits and verify with the right key only', () => {
  const a = new Credentials([keyA])
  const b = new Credentials([keyB])
  const id = a.newTunnelId()
  const secret = a.secretFor(id)
  assert.equal(Buffer.from(secret, 'base64url').length, 32)
  assert.equal(a.verify(id, secret), true)
  assert.equal(new Credentials([keyA]).verify(id, secret), true, 'another instance with the same key accepts it')
  assert.equal(b.verify(id, secret), false)
  assert.equal(a.verify(a.newTunnelId(), secret), false, 'a secret belongs to one id')
  assert.equal(a.verify(id, secret.slice(0, -1)), false)
  assert.equal(a.verify(id, `${secret}x`), false)
  assert.equal(a.verify(id, ''), false)
})

test('rotation: ids and secrets made under key A still verify with keys [B, A]; new ones are signed with B', () => {
  const old = new Credentials([keyA])
  const id = old.newTunnelId()
  const secret = old.secretFor(id)
  const rotated = new Credentials([keyB, keyA])
  assert.equal(rotated.isSignedId(id), true)
  assert.equal(rotated.verify(id, secret), true)
  const fresh = rotated.newTunnelId()
  assert.equal(new Credentials([keyB]).isSignedId(fresh), true)
  assert.equal(old.isSignedId(fresh), false)
  assert.equal(new Credentials([keyB]).verify(id, rotated.secretFor(id)), true, 'secretFor signs with the first key')
})

test('a new generation changes the secret and retires the old one', () => {
  const credentials = new Credentials([keyA])
  const id = credentials.newTunnelId()
  const gen0 = credentials.secretFor(id)
  const gen1 = credentials.secretFor(id, 1)
  assert.notEqual(gen0, gen1)
  assert.equal(credentials.verify(id, gen1, 1), true)
  assert.equal(credentials.verify(id, gen0, 1), false)
  assert.equal(credentials.verify(id, gen1, 0), false)
})

test('a key shorter than 32 characters is a ConfigError (ADIT_ERR_CONFIG), wherever it sits in the list', () => {
  for (const keys of [['short'], ['x'.repeat(31)], [keyA, 'short']]) {
    assert.throws(() => new Credentials(keys), { code: ErrorCode.CONFIG, name: 'ConfigError' })
  }
  assert.equal(new Credentials(['x'.repeat(32)]).ephemeral, false)
})

test('without a key the credentials are ephemeral and still self-consistent; two processes do not agree', () => {
  for (const keys of [undefined, []]) {
    const credentials = new Credentials(keys)
    assert.equal(credentials.ephemeral, true)
    const id = credentials.newTunnelId()
    assert.equal(credentials.isSignedId(id), true)
    assert.equal(credentials.verify(id, credentials.secretFor(id)), true)
  }
  const first = new Credentials(undefined)
  const id = first.newTunnelId()
  assert.equal(new Credentials(undefined).isSignedId(id), false)
  assert.equal(new Credentials([keyA]).ephemeral, false)
})
