/**
 * The byte-level examples of docs/protocol.md. The doc shows these exact hex
 * strings; examples.test.ts checks both that the codec produces them byte for
 * byte and that the doc still contains them, so the two cannot drift apart.
 */
import type { RequestHead, ResponseHead } from '../../../src/protocol/index.js'

/** `"01 00 ff"` → Buffer. Anything that is not a hex digit is ignored. */
export function fromHex(hex: string): Buffer {
  return Buffer.from(hex.replace(/[^0-9a-f]/gi, ''), 'hex')
}

/** Buffer → `"01 00 ff"`, the form the doc and these fixtures use. */
export function toHex(buf: Uint8Array): string {
  return Buffer.from(buf)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ')
}

export const openExample = {
  streamId: 1,
  head: { method: 'GET', path: '/hi?x=1', headers: [['host', 'a']] } as RequestHead,
  json: '{"method":"GET","path":"/hi?x=1","headers":[["host","a"]]}',
  hex:
    '01 00 00 00 01 7b 22 6d 65 74 68 6f 64 22 3a 22 47 45 54 22 2c 22 70 61 74 68 22 3a 22 2f 68 69 3f 78 3d 31 22 2c ' +
    '22 68 65 61 64 65 72 73 22 3a 5b 5b 22 68 6f 73 74 22 2c 22 61 22 5d 5d 7d',
} as const

export const headExample = {
  streamId: 1,
  head: { status: 200, headers: [['content-type', 'text/plain']] } as ResponseHead,
  json: '{"status":200,"headers":[["content-type","text/plain"]]}',
  hex:
    '02 00 00 00 01 7b 22 73 74 61 74 75 73 22 3a 32 30 30 2c 22 68 65 61 64 65 72 73 22 3a 5b 5b 22 63 6f 6e 74 65 6e ' +
    '74 2d 74 79 70 65 22 2c 22 74 65 78 74 2f 70 6c 61 69 6e 22 5d 5d 7d',
} as const

export const dataExample = { streamId: 1, data: 'hello', hex: '03 00 00 00 01 68 65 6c 6c 6f' } as const

export const endExample = { streamId: 1, hex: '04 00 00 00 01' } as const

/** With `end-flag` negotiated: a bodiless GET whose OPEN is also its END (type byte 0x01 | FLAG_END). */
export const openEndExample = {
  streamId: 1,
  head: { method: 'GET', path: '/', headers: [['host', 'a']], bodyless: true } as RequestHead,
  json: '{"method":"GET","path":"/","headers":[["host","a"]],"bodyless":true}',
  hex:
    '81 00 00 00 01 7b 22 6d 65 74 68 6f 64 22 3a 22 47 45 54 22 2c 22 70 61 74 68 22 3a 22 2f 22 2c 22 68 65 61 64 65 ' +
    '72 73 22 3a 5b 5b 22 68 6f 73 74 22 2c 22 61 22 5d 5d 2c 22 62 6f 64 79 6c 65 73 73 22 3a 74 72 75 65 7d',
} as const

/** With `end-flag` negotiated: the body's last bytes, `hello`, and its END in one frame (0x03 | FLAG_END). */
export const dataEndExample = { streamId: 1, data: 'hello', hex: '83 00 00 00 01 68 65 6c 6c 6f' } as const

/** With `window-blocked` negotiated: `hello` spent the sender's last credit and more bytes wait (0x03 | FLAG_BLOCKED). */
export const dataBlockedExample = { streamId: 1, data: 'hello', hex: '43 00 00 00 01 68 65 6c 6c 6f' } as const

/** With `trailers` negotiated: a response body ends with `grpc-status: 0` (TRAILERS 0x08 is also the END). */
export const trailersExample = {
  streamId: 1,
  trailers: [['grpc-status', '0']] as Array<[string, string]>,
  json: '{"headers":[["grpc-status","0"]]}',
  hex: '08 00 00 00 01 7b 22 68 65 61 64 65 72 73 22 3a 5b 5b 22 67 72 70 63 2d 73 74 61 74 75 73 22 2c 22 30 22 5d 5d 7d',
} as const

/** RESET CANCEL (1) with reason "gone". */
export const resetExample = { streamId: 1, code: 1, reason: 'gone', hex: '05 00 00 00 01 00 00 00 01 67 6f 6e 65' } as const

/** WINDOW +131072 (128 KiB, half the initial window: the usual coalesced grant). */
export const windowExample = { streamId: 1, increment: 131072, hex: '06 00 00 00 01 00 02 00 00' } as const

/** GOAWAY NORMAL (0), last stream id 7. */
export const goAwayExample = { lastStreamId: 7, code: 0, hex: '07 00 00 00 00 00 00 00 07 00 00 00 00' } as const

/** adit.json.v1: the request the server sends for `POST /pub/<id>/echo?x=1` with body "hi". */
export const jsonRequestExample = {
  reqId: '1',
  head: {
    method: 'POST',
    path: '/echo?x=1',
    headers: [
      ['content-type', 'text/plain'],
      ['accept', 'a'],
      ['accept', 'b'],
    ],
  } as RequestHead,
  body: 'hi',
  text: '{"type":"req","req_id":"1","method":"POST","path":"/echo","query":"x=1","headers":{"Content-Type":["text/plain"],"Accept":["a","b"]},"body":"aGk="}',
} as const

/** adit.json.v1: the agent's answer to it. */
export const jsonResponseExample = {
  text: '{"type":"resp","req_id":"1","status":200,"headers":{"Content-Type":["text/plain"]},"body":"b2s="}',
  status: 200,
  headers: [['Content-Type', 'text/plain']] as Array<[string, string]>,
  body: 'ok',
} as const
