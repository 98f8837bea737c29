import assert from 'node:assert/strict'
import { test } from 'node:test'
import { serverOrigin, withSavedLogin } from '../../../src/config/saved-login.js'

test('a server as typed becomes an origin; loopback is plain http, other hosts https', () => {
  assert.equal(serverOrigin('adit.example.com'), 'https://adit.example.com')
  assert.equal(serverOrigin('localhost:8080'), 'http://localhost:8080')
  assert.equal(serverOrigin('127.0.0.1:8080'), 'http://127.0.0.1:8080')
  assert.equal(serverOrigin('http://adit.internal:8080/'), 'http://adit.internal:8080')
  assert.throws(() => serverOrigin('ftp://x'), /http:\/\/ or https:\/\//)
})

test('the saved login fills what was not given; its key never goes to another server', () => {
  const login = { server: 'https://adit.example.com', apiKey: 'k' }
  assert.deepEqual(withSavedLogin({}, { server: false, apiKey: false }, login), { server: 'https://adit.example.com', apiKey: 'k' })
  assert.deepEqual(withSavedLogin({ server: 'https://adit.example.com/' }, { server: true, apiKey: false }, login), { apiKey: 'k' })
  assert.deepEqual(withSavedLogin({ server: 'https://other.example.com' }, { server: true, apiKey: false }, login), {})
  assert.deepEqual(withSavedLogin({}, { server: false, apiKey: true }, login), { server: 'https://adit.example.com' })
  assert.deepEqual(withSavedLogin({}, { server: false, apiKey: false }, undefined), {})
})
