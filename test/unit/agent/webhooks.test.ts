import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { compileWebhook } from '../../../src/agent/webhooks.js'
import { ErrorCode } from '../../../src/errors.js'

const isConfig = (e: { code?: string }) => e.code === ErrorCode.CONFIG
const hex = (secret: string, text: string | Buffer) => createHmac('sha256', secret).update(text).digest('hex')

test('github: X-Hub-Signature-256 — the documented test vector, a wrong secret, a tampered body, no header', () => {
  // From GitHub's "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
  const check = compileWebhook('w', { provider: 'github', secret: "It's a Secret to Everybody" })
  const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
  const body = Buffer.from('Hello, World!')
  assert.deepEqual(check.verify([['X-Hub-Signature-256', signature]], body, Date.now()), { ok: true })
  const wrong = compileWebhook('w', { provider: 'github', secret: 'another secret' })
  assert.equal(wrong.verify([['x-hub-signature-256', signature]], body, Date.now()).ok, false)
  const tampered = check.verify([['x-hub-signature-256', signature]], Buffer.from('Hello, World?'), Date.now())
  assert.deepEqual(tampered, { ok: false, reason: 'webhook signature does not match the body' })
  assert.match((check.verify([], body, Date.now()) as { reason: string }).reason, /no X-Hub-Signature-256 header/)
  assert.equal(check.verify([['x-hub-signature-256', 'sha256=zz']], body, Date.now()).ok, false)
  assert.equal(check.verify([['x-hub-signature-256', signature.slice(0, -2)]], body, Date.now()).ok, false, 'a short digest never matches')
  assert.equal(check.verify([['x-hub-signature', `sha1=${signature.slice(7)}`]], body, Date.now()).ok, false)
})

test('stripe: Stripe-Signature t=…,v1=… over "t.body" — valid (any v1), wrong secret, stale and future timestamps, tampered body', () => {
  const secret = 'whsec_test_secret'
  const body = '{"id":"evt_1","object":"event"}'
  const now = 1_733_000_000_000
  const t = String(now / 1000 - 10)
  const header = (s: string, ts = t) => `t=${ts},v1=${hex(s, `${ts}.${body}`)},v0=${hex('x', body)}`
  const check = compileWebhook('w', { provider: 'stripe', secret })
  assert.deepEqual(check.verify([['Stripe-Signature', header(secret)]], Buffer.from(body), now), { ok: true })
  // Rolling secrets: Stripe sends one v1 per secret; any one matching is enough.
  assert.deepEqual(check.verify([['stripe-signature', `t=${t},v1=${hex('old', `${t}.${body}`)},v1=${hex(secret, `${t}.${body}`)}`]], Buffer.from(body), now), {
    ok: true,
  })
  assert.equal(check.verify([['stripe-signature', header('whsec_other')]], Buffer.from(body), now).ok, false)
  assert.equal(check.verify([['stripe-signature', header(secret)]], Buffer.from(`${body} `), now).ok, false)
  const old = String(now / 1000 - 301)
  assert.match((check.verify([['stripe-signature', header(secret, old)]], Buffer.from(body), now) as { reason: string }).reason, /more than 300 s from now/)
  const future = String(now / 1000 + 301)
  assert.equal(check.verify([['stripe-signature', header(secret, future)]], Buffer.from(body), now).ok, false)
  const loose = compileWebhook('w', { provider: 'stripe', secret, toleranceMs: 600_000 })
  assert.deepEqual(loose.verify([['stripe-signature', header(secret, old)]], Buffer.from(body), now), { ok: true })
  assert.match((check.verify([['stripe-signature', `t=${t}`]], Buffer.from(body), now) as { reason: string }).reason, /malformed/)
})

test('slack: X-Slack-Signature v0= over "v0:ts:body" — the documented example, wrong secret, stale timestamp, tampered body', () => {
  // From Slack's "Verifying requests from Slack".
  const secret = '8f742231b10e8888abcd99yyyzzz85a5'
  const ts = '1531420618'
  const body =
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c'
  const signature = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503'
  const headers: Array<[string, string]> = [
    ['X-Slack-Request-Timestamp', ts],
    ['X-Slack-Signature', signature],
  ]
  const then = Number(ts) * 1000 + 60_000
  const check = compileWebhook('w', { provider: 'slack', secret })
  assert.deepEqual(check.verify(headers, Buffer.from(body), then), { ok: true })
  assert.equal(compileWebhook('w', { provider: 'slack', secret: 'wrong' }).verify(headers, Buffer.from(body), then).ok, false)
  assert.equal(check.verify(headers, Buffer.from(body.replace('roadrunner', 'coyote')), then).ok, false)
  assert.match((check.verify(headers, Buffer.from(body), Date.now()) as { reason: string }).reason, /timestamp/)
  assert.match((check.verify([['X-Slack-Signature', signature]], Buffer.from(body), then) as { reason: string }).reason, /X-Slack-Request-Timestamp/)
})

test('hmac: a generic header with hex or base64 and an optional prefix', () => {
  const body = Buffer.from('{"event":"ping"}')
  const check = compileWebhook('w', { provider: 'hmac', secret: 's3cret', header: 'X-Webhook-Signature', prefix: 'sha256=' })
  assert.deepEqual(check.verify([['x-webhook-signature', `sha256=${hex('s3cret', body)}`]], body, 0), { ok: true })
  assert.equal(check.verify([['x-webhook-signature', hex('s3cret', body)]], body, 0).ok, false, 'the prefix is required')
  assert.equal(check.verify([['x-webhook-signature', `sha256=${hex('other', body)}`]], body, 0).ok, false)
  const b64 = compileWebhook('w', { provider: 'hmac', secret: 's3cret', encoding: 'base64' })
  const digest = createHmac('sha256', 's3cret').update(body).digest('base64')
  assert.deepEqual(b64.verify([['X-Signature', digest]], body, 0), { ok: true })
  assert.equal(b64.verify([['X-Signature', digest]], Buffer.from('{"event":"pong"}'), 0).ok, false)
})

test('webhook options: provider, secret or secret_env, and per-provider keys are checked', () => {
  assert.throws(() => compileWebhook('w', { provider: 'gitlab' as never, secret: 's' }), isConfig)
  assert.throws(() => compileWebhook('w', { provider: 'github' }), /secret or secret_env/)
  assert.throws(() => compileWebhook('w', { provider: 'github', secretEnv: 'ADIT_TEST_UNSET_SECRET' }, {}), /is not set/)
  assert.equal(compileWebhook('w', { provider: 'github', secretEnv: 'HOOK' }, { HOOK: 'x' }).provider, 'github')
  assert.throws(() => compileWebhook('w', { provider: 'github', secret: 's', header: 'X-A' }), /for provider hmac/)
  assert.throws(() => compileWebhook('w', { provider: 'github', secret: 's', toleranceMs: 10_000 }), /stripe and slack/)
  assert.equal(compileWebhook('w', { provider: 'github', secret: 's' }).maxBodyBytes, 1024 * 1024)
})
