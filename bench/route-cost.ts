/**
 * What routing and rules cost per request on the agent (issue 15): the
 * route lookup plus the request and response headers (rules both ways), for a
 * plain one-origin tunnel, a 50-entry route table (the request falls
 * through to the catch-all: every entry is tried), and the same with header
 * rules using variables on the matched route. In-process, no sockets: the
 * rest of a request's path is the same in every case. Bounded: a fixed
 * count per case. The `routes` case of `npm run bench` runs it beside its
 * end-to-end variants (cases/routes.ts).
 */
import { LocalForwarder } from '../src/agent/local-forwarder.js'
import { buildRouteTable, type RouteSpec } from '../src/agent/routes.js'
import type { RequestHead } from '../src/protocol/index.js'

const head: RequestHead = {
  method: 'GET',
  path: '/app/items/42?expand=1',
  requestId: 'req-1',
  headers: [
    ['Host', 'adit.example.com'],
    ['User-Agent', 'bench'],
    ['Accept', '*/*'],
    ['Cookie', 'session=abc'],
    ['X-Forwarded-For', '203.0.113.7'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'adit.example.com'],
    ['X-Forwarded-Prefix', '/pub/bench'],
    ['Forwarded', 'for=203.0.113.7;host=adit.example.com;proto=https'],
    ['X-Adit-Request-Id', 'req-1'],
  ],
}

/** 49 routes that a request to `/app/…` on `adit.example.com` misses (every other one by host), then `last`. */
export function fifty(last: RouteSpec): RouteSpec[] {
  const routes: RouteSpec[] = []
  for (let i = 0; i < 49; i++)
    routes.push(
      i % 2 === 0 ? { host: `svc${i}.example.com`, local: `http://127.0.0.1:${4000 + i}` } : { path: `/svc${i}`, local: `http://127.0.0.1:${4000 + i}` },
    )
  routes.push(last)
  return routes
}

const cases: Array<{ name: string; routes: RouteSpec[] }> = [
  { name: 'one origin (no routes)', routes: [{ path: '/', local: 'http://127.0.0.1:3000' }] },
  { name: '50 routes, catch-all hit', routes: fifty({ path: '/', local: 'http://127.0.0.1:3000' }) },
  {
    name: '50 routes + header rules',
    routes: fifty({
      path: '/',
      local: 'http://127.0.0.1:3000',
      requestHeaders: { set: { 'X-Client': '${client_ip}' }, add: { 'X-Via': 'adit ${tunnel} ${request_id}' }, remove: ['Cookie'] },
      responseHeaders: { set: { 'X-Frame-Options': 'DENY' }, add: { 'X-Request-Id': '${request_id}' }, remove: ['Server'] },
    }),
  },
]

/** One request's routing work: the lookup, the request headers, the response headers (rules both ways). */
function once(forwarder: LocalForwarder): number {
  const route = forwarder.routeFor(head)
  const response: Array<[string, string]> = [
    ['Content-Type', 'text/plain'],
    ['Content-Length', '1024'],
    ['Server', 'bench'],
  ]
  return forwarder.requestHeaders(head, route).length + forwarder.responseHeaders(head, route, response).length
}

export interface RouteCost {
  case: string
  nsPerRequest: number
  /** This case's cost over the one-origin tunnel's. */
  overNoRoutesNs: number
}

/** Nanoseconds per request of the route lookup and request headers, `count` requests per case after a warm-up. */
export async function measureRouteCost(count = 200_000): Promise<RouteCost[]> {
  const results: Array<{ case: string; nsPerRequest: number }> = []
  for (const c of cases) {
    const forwarder = new LocalForwarder({
      routes: buildRouteTable(c.routes),
      hostHeader: 'rewrite',
      connections: 1,
      observer: undefined,
      tunnelId: () => 'bench',
    })
    let sink = 0
    // Warm up, then measure.
    for (let i = 0; i < 20_000; i++) sink += once(forwarder)
    const start = process.hrtime.bigint()
    for (let i = 0; i < count; i++) sink += once(forwarder)
    const ns = Number(process.hrtime.bigint() - start) / count
    await forwarder.close()
    if (sink === 0) throw new Error('nothing computed')
    results.push({ case: c.name, nsPerRequest: Math.round(ns) })
  }
  const base = results[0]!.nsPerRequest
  return results.map((r) => ({ ...r, overNoRoutesNs: r.nsPerRequest - base }))
}
