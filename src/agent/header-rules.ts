/**
 * Header rules of a route: remove, set and add request headers (before the
 * local service sees them) and response headers (before the visitor does).
 * Values may use `${client_ip}`, `${request_id}` and `${tunnel}`. The headers
 * that carry a connection (hop-by-hop), frame a body, or that adit itself
 * sets for the service's safety (X-Forwarded-*, Forwarded, X-Adit-*) are out
 * of reach: a rule that names one is refused when the route is checked.
 *
 * Order: every `remove` (and the old values of every `set`) first, then the
 * `set` values, then the `add` values.
 *
 * @example
 * const rules = compileHeaderRules('route 1.request_headers', { set: { 'X-Client': '${client_ip}' }, remove: ['Cookie'] }, 'request')
 * applyToPairs([['cookie', 'a=1']], rules!, { client_ip: '203.0.113.7', request_id: 'r1', tunnel: 't' }) // [['X-Client', '203.0.113.7']]
 */
import { ConfigError } from '../errors.js'

/** How a user writes a side's rules. `add` and `set` take `{name: value}` or `[[name, value]]`. */
export interface HeaderRulesSpec {
  add?: Record<string, string> | Array<[string, string]>
  set?: Record<string, string> | Array<[string, string]>
  remove?: string[]
}

export const headerVariables = ['client_ip', 'request_id', 'tunnel'] as const
export type HeaderVariable = (typeof headerVariables)[number]
export type HeaderVariables = Record<HeaderVariable, string>

/** A value: literal text and variables, in order. */
type Template = ReadonlyArray<string | { variable: HeaderVariable }>

interface Entry {
  name: string
  value: Template
}

/** Checked rules, ready for the hot path. */
export interface HeaderRules {
  /** Lowercase names whose old values go: `remove` and `set`. */
  drop: ReadonlySet<string>
  /** Appended in order: the `set` values, then the `add` ones. */
  append: readonly Entry[]
  /** The rules use a variable (so the caller must compute them). */
  usesVariables: boolean
}

const hopByHop = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']
/** Request headers adit sets for the service, or that frame the body; Host has its own option (host_header). */
const protectedRequest = new Set([
  ...hopByHop,
  'content-length',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-prefix',
  'forwarded',
])
const protectedResponse = new Set([...hopByHop, 'content-length'])

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function template(where: string, value: unknown): Template {
  if (typeof value !== 'string') throw new ConfigError(`${where} must be a string, got ${JSON.stringify(value)}`)
  if (/[\r\n\0]/.test(value)) throw new ConfigError(`${where} must not hold CR, LF or NUL`)
  const parts: Array<string | { variable: HeaderVariable }> = []
  const pattern = /\$\{([^}]*)\}/g
  let last = 0
  for (let m = pattern.exec(value); m !== null; m = pattern.exec(value)) {
    const name = m[1]!.trim()
    if (!(headerVariables as readonly string[]).includes(name))
      throw new ConfigError(`${where}: unknown variable \${${name}} (known: ${headerVariables.map((v) => `\${${v}}`).join(', ')})`)
    if (m.index > last) parts.push(value.slice(last, m.index))
    parts.push({ variable: name as HeaderVariable })
    last = m.index + m[0].length
  }
  if (last < value.length) parts.push(value.slice(last))
  return parts
}

function headerName(where: string, name: unknown, side: 'request' | 'response'): string {
  if (typeof name !== 'string' || !TOKEN.test(name)) throw new ConfigError(`${where}: ${JSON.stringify(name)} is not a header name`)
  const lower = name.toLowerCase()
  const guarded = side === 'request' ? protectedRequest : protectedResponse
  if (guarded.has(lower) || lower.startsWith('x-adit-') || lower.startsWith('proxy-'))
    throw new ConfigError(`${where}: ${name} is set by adit or carries the connection, so no rule may change it${lower === 'host' ? ' (use host_header)' : ''}`)
  return name
}

function pairsOf(where: string, value: unknown): Array<[string, unknown]> {
  if (Array.isArray(value)) {
    return value.map((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new ConfigError(`${where}[${i}] must be [name, value]`)
      return [pair[0] as string, pair[1] as unknown]
    })
  }
  if (value !== null && typeof value === 'object') return Object.entries(value)
  throw new ConfigError(`${where} must be a mapping of header: value`)
}

/** Checks a side's rules; undefined when there are none. */
export function compileHeaderRules(where: string, spec: HeaderRulesSpec | undefined, side: 'request' | 'response'): HeaderRules | undefined {
  if (spec === undefined) return undefined
  for (const key of Object.keys(spec))
    if (!['add', 'set', 'remove'].includes(key)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)} (known: add, set, remove)`)
  const drop = new Set<string>()
  const append: Entry[] = []
  if (spec.remove !== undefined) {
    if (!Array.isArray(spec.remove)) throw new ConfigError(`${where}.remove must be a list of header names`)
    for (const name of spec.remove) drop.add(headerName(`${where}.remove`, name, side).toLowerCase())
  }
  for (const [name, value] of pairsOf(`${where}.set`, spec.set ?? {})) {
    const checked = headerName(`${where}.set`, name, side)
    drop.add(checked.toLowerCase())
    append.push({ name: checked, value: template(`${where}.set.${checked}`, value) })
  }
  for (const [name, value] of pairsOf(`${where}.add`, spec.add ?? {})) {
    const checked = headerName(`${where}.add`, name, side)
    append.push({ name: checked, value: template(`${where}.add.${checked}`, value) })
  }
  if (drop.size === 0 && append.length === 0) return undefined
  return { drop, append, usesVariables: append.some((e) => e.value.some((p) => typeof p !== 'string')) }
}

function render(value: Template, vars: HeaderVariables | undefined): string {
  if (value.length === 1 && typeof value[0] === 'string') return value[0]
  let out = ''
  for (const part of value) out += typeof part === 'string' ? part : (vars?.[part.variable] ?? '').replace(/[\r\n\0]/g, '')
  return out
}

/** Applies rules to `[name, value]` pairs (response heads); returns a new array. */
export function applyToPairs(pairs: ReadonlyArray<[string, string]>, rules: HeaderRules, vars: HeaderVariables | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const pair of pairs) if (!rules.drop.has(pair[0].toLowerCase())) out.push(pair)
  for (const entry of rules.append) out.push([entry.name, render(entry.value, vars)])
  return out
}

/** Applies rules to undici's flat `[name, value, name, value …]` request headers; returns a new array. */
export function applyToFlat(flat: readonly string[], rules: HeaderRules, vars: HeaderVariables | undefined): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) if (!rules.drop.has(flat[i]!.toLowerCase())) out.push(flat[i]!, flat[i + 1]!)
  for (const entry of rules.append) out.push(entry.name, render(entry.value, vars))
  return out
}

/**
 * The variables for a request, from the head the server sent: the client
 * address is the last X-Forwarded-For entry (the one the server appended),
 * the request id is the server's.
 */
export function variablesFor(headers: ReadonlyArray<[string, string]>, requestId: string | undefined, tunnel: string): HeaderVariables {
  let forwardedFor: string | undefined
  let id = requestId
  for (const [name, value] of headers) {
    const lower = name.toLowerCase()
    if (lower === 'x-forwarded-for') forwardedFor = value
    else if (id === undefined && lower === 'x-adit-request-id') id = value
  }
  const clientIp = forwardedFor === undefined ? '' : (forwardedFor.slice(forwardedFor.lastIndexOf(',') + 1).trim() ?? '')
  return { client_ip: clientIp, request_id: id ?? '', tunnel }
}
