import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Subprotocol, agreedFeatures, parseSubprotocolHeader, selectSubprotocol } from '../../../src/protocol/index.js'

describe('subprotocol negotiation', () => {
  it('adit.v2 wins whenever it is offered', () => {
    assert.equal(selectSubprotocol(['adit.v2']), Subprotocol.V2)
    assert.equal(selectSubprotocol(['adit.json.v1', 'adit.v2']), Subprotocol.V2)
    assert.equal(selectSubprotocol(['chat', ' adit.v2 ']), Subprotocol.V2)
  })

  it('no offer, or adit.json.v1, gets JSON v1', () => {
    assert.equal(selectSubprotocol([]), Subprotocol.JSON_V1)
    assert.equal(selectSubprotocol(['']), Subprotocol.JSON_V1)
    assert.equal(selectSubprotocol(['adit.json.v1']), Subprotocol.JSON_V1)
    assert.equal(selectSubprotocol(['chat', 'adit.json.v1']), Subprotocol.JSON_V1)
  })

  it('only unknown offers get null (refuse the upgrade)', () => {
    assert.equal(selectSubprotocol(['graphql-ws']), null)
    assert.equal(selectSubprotocol(['ADIT.V2']), null, 'names are case-sensitive (RFC 6455)')
    assert.equal(selectSubprotocol(['adit.v3']), null)
  })

  it('parses the raw header', () => {
    assert.deepEqual(parseSubprotocolHeader(undefined), [])
    assert.deepEqual(parseSubprotocolHeader(''), [])
    assert.deepEqual(parseSubprotocolHeader('adit.v2, adit.json.v1 ,,x'), ['adit.v2', 'adit.json.v1', 'x'])
    assert.equal(selectSubprotocol(parseSubprotocolHeader('adit.json.v1, adit.v2')), Subprotocol.V2)
  })

  it('features in force are those both sides name: an older peer (none, or only end-flag) gets only what it named', () => {
    assert.deepEqual([...agreedFeatures('end-flag, trailers')], ['end-flag', 'trailers'])
    assert.deepEqual([...agreedFeatures('end-flag')], ['end-flag'])
    assert.deepEqual([...agreedFeatures(undefined)], [])
    assert.deepEqual([...agreedFeatures(['Trailers', 'zstd'])], ['trailers'], 'names are case-insensitive; unknown ones are ignored')
  })
})
