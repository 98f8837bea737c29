/**
 * How a kept body is shown over the API: text when it is UTF-8 text, base64
 * otherwise, with the sizes and flags the UI needs to say what is missing.
 * Runs only when someone opens a detail or exports HAR, never per chunk.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import type { CapturedBody } from './captured-body.js'
import { headerValue } from './request-log.js'

export interface BodyView {
  /** Bytes that went through. */
  size: number
  /** Bytes kept (what `data` holds before any decompression). */
  keptBytes: number
  truncated: boolean
  evicted: boolean
  contentType: string | undefined
  contentEncoding: string | undefined
  /** True when `data` is the body after undoing Content-Encoding (gzip, deflate, br). */
  decoded: boolean
  encoding: 'utf8' | 'base64'
  data: string
}

const textualType =
  /^text\/|[/+](json|xml|javascript|ecmascript|x-www-form-urlencoded|graphql|yaml|csv|x-ndjson)\b|^application\/(json|xml|javascript|x-www-form-urlencoded)/i
// Control characters other than tab, line feed, form feed and carriage return: a sign of binary data.
const binaryControl = /[\u0000-\u0008\u000b\u000e-\u001f]/

export function isTextualContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && textualType.test(contentType)
}

/** Decodes `bytes` as UTF-8 if that is what they are; a cut-off last character is tolerated (truncated bodies). */
export function decodeUtf8Text(bytes: Buffer, contentType: string | undefined): string | undefined {
  if (contentType !== undefined && !isTextualContentType(contentType)) return undefined
  let text: string
  try {
    // stream: true leaves an incomplete trailing sequence pending instead of failing on it.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true })
  } catch {
    return undefined
  }
  if (contentType === undefined && binaryControl.test(text)) return undefined
  return text
}

function decompress(bytes: Buffer, contentEncoding: string, maxOutputLength: number): Buffer | undefined {
  const options = { maxOutputLength }
  try {
    switch (contentEncoding.trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(bytes, options)
      case 'deflate':
        return inflateSync(bytes, options)
      case 'br':
        return brotliDecompressSync(bytes, options)
      default:
        return undefined
    }
  } catch {
    // Corrupt, or larger than we are willing to inflate: show the raw bytes.
    return undefined
  }
}

/**
 * @param maxDecodedBytes cap on a decompressed body, so a small gzip bomb in
 *   the log cannot blow up the inspector when someone opens it.
 */
export function viewBody(body: CapturedBody, headers: Array<[string, string]>, maxDecodedBytes: number): BodyView {
  const contentType = headerValue(headers, 'content-type')
  const contentEncoding = headerValue(headers, 'content-encoding')
  let bytes = body.bytes()
  let decoded = false
  if (contentEncoding !== undefined && body.complete && bytes.length > 0) {
    const plain = decompress(bytes, contentEncoding, maxDecodedBytes)
    if (plain !== undefined) {
      bytes = plain
      decoded = true
    }
  }
  const text = decodeUtf8Text(bytes, contentType)
  return {
    size: body.size,
    keptBytes: body.kept,
    truncated: body.truncated,
    evicted: body.evicted,
    contentType,
    contentEncoding,
    decoded,
    encoding: text === undefined ? 'base64' : 'utf8',
    data: text ?? bytes.toString('base64'),
  }
}
