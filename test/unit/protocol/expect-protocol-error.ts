import assert from 'node:assert/strict'
import { ProtocolError, type ProtocolErrorCode } from '../../../src/protocol/index.js'

/** Asserts `fn` throws a ProtocolError with `code` (never anything else), and returns it. */
export function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode): ProtocolError {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  assert.ok(caught instanceof ProtocolError, `expected a ProtocolError ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code)
  return caught
}
