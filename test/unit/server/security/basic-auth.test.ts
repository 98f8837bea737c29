import { test } from 'node:test'
import assert from 'node:assert/strict'
import { basicCredentialsOf, hashCredentials, verifyCredentials } from '../../../../src/server/security/basic-auth.js'

test('the stored form is salted scrypt, never the password', async () => {
  const a = await hashCredentials('alice:s3cret-pass')
  const b = await hashCredentials('alice:s3cret-pass')
  assert.match(a, /^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/)
  assert.notEqual(a, b, 'a fresh salt each time')
  assert.ok(!a.includes('s3cret'))
  assert.equal(await verifyCredentials('alice:s3cret-pass', a), true)
  assert.equal(await verifyCredentials('alice:s3cret-pasS', a), false)
  assert.equal(await verifyCredentials('bob:s3cret-pass', a), false)
})

test('a malformed stored hash never verifies', async () => {
  for (const bad of ['', 'plain', 'scrypt$1$2$3', 'scrypt$abc$8$1$AAAA$AAAA', 'scrypt$16384$8$1$AAAA$AAAA', 'bcrypt$16384$8$1$AAAA$' + 'A'.repeat(43)]) {
    assert.equal(await verifyCredentials('a:b', bad), false, bad)
  }
})

test('Authorization: Basic is parsed; anything else is null', () => {
  const header = `Basic ${Buffer.from('u:p:with:colons').toString('base64')}`
  assert.equal(basicCredentialsOf(header), 'u:p:with:colons')
  assert.equal(basicCredentialsOf(header.replace('Basic', 'basic')), 'u:p:with:colons')
  assert.equal(basicCredentialsOf(undefined), null)
  assert.equal(basicCredentialsOf('Bearer abc'), null)
  assert.equal(basicCredentialsOf(`Basic ${Buffer.from('nocolon').toString('base64')}`), null)
  assert.equal(basicCredentialsOf('Basic !!!'), null)
})
