import assert from 'node:assert/strict'
import { test } from 'node:test'
import { redactUrl } from '../../../src/observability/logger.js'

test('redactUrl decodes query keys before matching: %73ecret, To%6Ben, API%5Fkey, upper case, + and malformed escapes', () => {
  assert.equal(redactUrl('/ws?id=a&secret=s1'), '/ws?id=a&secret=[redacted]')
  assert.equal(redactUrl('/x?%73ecret=s1&y=2'), '/x?%73ecret=[redacted]&y=2')
  assert.equal(redactUrl('/x?To%6Ben=s2'), '/x?To%6Ben=[redacted]')
  assert.equal(redactUrl('/x?API%5Fkey=s3#frag'), '/x?API%5Fkey=[redacted]#frag')
  assert.equal(redactUrl('/x?SECRET=s4&apikey=s5'), '/x?SECRET=[redacted]&apikey=[redacted]')
  assert.equal(redactUrl('/x?%zz=1&token=s6'), '/x?%zz=1&token=[redacted]')
  assert.equal(redactUrl('/x?secrets=keep&my_token=keep'), '/x?secrets=keep&my_token=keep', 'only the exact keys')
  assert.equal(redactUrl('/plain/path'), '/plain/path')
  assert.equal(redactUrl('http://h/p?a=1&%74oken=s7'), 'http://h/p?a=1&%74oken=[redacted]')
})
