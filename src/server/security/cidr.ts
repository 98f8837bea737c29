import { isIP } from 'node:net'
import { ConfigError } from '../../errors.js'

/**
 * IPv4 and IPv6 CIDR matching for per-tunnel allow-lists. Addresses become
 * 16-byte buffers (IPv4 as IPv4-mapped IPv6, `::ffff:a.b.c.d`), so one
 * prefix comparison serves both families and `::ffff:10.0.0.1` matches
 * `10.0.0.0/8` as the same client.
 */

export interface Cidr {
  readonly network: Buffer
  /** Prefix length over the 128-bit form. */
  readonly bits: number
  /** As written by the operator/agent, normalised (`10.0.0.0/8`). */
  readonly text: string
}

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])

function parseV4(text: string): Buffer | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const out = Buffer.alloc(4)
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!
    if (!/^\d{1,3}$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    out[i] = n
  }
  return out
}

function parseV6(text: string): Buffer | null {
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  let body = text
  const lastColon = body.lastIndexOf(':')
  const tail = body.slice(lastColon + 1)
  if (tail.includes('.')) {
    const v4 = parseV4(tail)
    if (v4 === null) return null
    body = `${body.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`
  }
  const halves = body.split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : halves[0]!.split(':')
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : []
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest]
  const out = Buffer.alloc(16)
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null
    out.writeUInt16BE(parseInt(g, 16), i * 2)
  }
  return out
}

/** An address as 16 bytes, or null when it is not an IP address. Zone ids (`%eth0`) are ignored. */
export function addressBytes(address: string): Buffer | null {
  const plain = address.includes('%') ? address.slice(0, address.indexOf('%')) : address
  const kind = isIP(plain)
  if (kind === 4) return Buffer.concat([V4_MAPPED_PREFIX, parseV4(plain)!])
  if (kind === 6) return parseV6(plain)
  return null
}

/** Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a /32 or /128). Throws ConfigError naming the entry. */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim()
  const slash = trimmed.indexOf('/')
  const address = slash === -1 ? trimmed : trimmed.slice(0, slash)
  const kind = isIP(address)
  if (kind === 0) throw new ConfigError(`allow-ip entry ${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR`)
  const max = kind === 4 ? 32 : 128
  let prefix = max
  if (slash !== -1) {
    const p = trimmed.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new ConfigError(`allow-ip entry ${JSON.stringify(text)} has a bad prefix length (0–${max})`)
    prefix = Number(p)
  }
  const bits = kind === 4 ? prefix + 96 : prefix
  const network = addressBytes(address)!
  maskInPlace(network, bits)
  return { network, bits, text: `${address}/${prefix}` }
}

function maskInPlace(bytes: Buffer, bits: number): void {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8))
    bytes[i]! &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff
  }
}

function contains(cidr: Cidr, address: Buffer): boolean {
  const full = cidr.bits >>> 3
  for (let i = 0; i < full; i++) if (cidr.network[i] !== address[i]) return false
  const rest = cidr.bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (address[full]! & mask) === cidr.network[full]
}

/** An allow-list: an address matches when any entry contains it. */
export class CidrList {
  readonly entries: readonly Cidr[]

  constructor(entries: readonly string[]) {
    this.entries = entries.map(parseCidr)
  }

  /** False for anything that is not an IP address (fail closed). */
  matches(address: string): boolean {
    const bytes = addressBytes(address)
    if (bytes === null) return false
    for (const cidr of this.entries) if (contains(cidr, bytes)) return true
    return false
  }
}
