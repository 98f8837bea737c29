import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { frameResponseHead, isFramingError } from '../../../src/server/response-framing.js'

describe('frameResponseHead: one valid content-length or none, a final status in 200–599', () => {
  it('passes a valid head through, the length normalised to one header', () => {
    const framed = frameResponseHead(
      200,
      [
        ['Content-Type', 'text/plain'],
        ['Content-Length', '005'],
      ],
      'GET',
    )
    assert.deepEqual(framed, {
      headers: [
        ['Content-Type', 'text/plain'],
        ['content-length', '5'],
      ],
      bodyLength: 5,
    })
  })

  it('equal repeated values are one length; no length means the body runs to its end', () => {
    for (const headers of [
      [['content-length', '5, 5']],
      [
        ['content-length', '5'],
        ['CONTENT-LENGTH', '5'],
      ],
    ] as Array<Array<[string, string]>>) {
      const framed = frameResponseHead(200, headers, 'GET')
      assert.ok(!isFramingError(framed))
      assert.deepEqual(framed.headers, [['content-length', '5']])
    }
    assert.deepEqual(frameResponseHead(200, [], 'GET'), { headers: [], bodyLength: null })
  })

  it('refuses abc, -1, +5, 1e3, empty, "5, 50", two different values and lengths beyond a safe integer', () => {
    const bad: Array<Array<[string, string]>> = [
      [['content-length', 'abc']],
      [['content-length', '-1']],
      [['content-length', '+5']],
      [['content-length', '1e3']],
      [['content-length', '']],
      [['content-length', '5, 50']],
      [['content-length', '5,']],
      [
        ['content-length', '5'],
        ['content-length', '6'],
      ],
      [['content-length', '9'.repeat(16)]],
    ]
    for (const headers of bad) assert.ok(isFramingError(frameResponseHead(200, headers, 'GET')), JSON.stringify(headers))
  })

  it('refuses statuses outside 200–599 for a final head', () => {
    for (const status of [600, 999, 199, 0, 200.5]) assert.ok(isFramingError(frameResponseHead(status, [], 'GET')), String(status))
    for (const status of [200, 404, 599]) assert.ok(!isFramingError(frameResponseHead(status, [], 'GET')), String(status))
  })

  it('a HEAD request, a 204 and a 304 promise no body whatever their length says', () => {
    assert.equal((frameResponseHead(200, [['content-length', '50']], 'HEAD') as { bodyLength: number }).bodyLength, 0)
    assert.equal((frameResponseHead(204, [], 'GET') as { bodyLength: number }).bodyLength, 0)
    assert.equal((frameResponseHead(304, [['content-length', '50']], 'GET') as { bodyLength: number }).bodyLength, 0)
  })
})
