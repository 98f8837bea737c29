/**
 * What routing and rules cost per request on the agent (issue 15): the
 * route lookup plus the request headers the local service gets, for a
 * plain one-origin tunnel, a 50-entry route table (the request falls
 * through to the catch-all: every entry is tried), and the same with header
 * rules using variables on the matched route. In-process, no sockets: the
 * rest of a request's path is the same in every case. Bounded: a fixed
 * count per case. Not part of `npm run bench`.
 *
 *   node dist/bench/route-cost.js [count=200000]
 */
import { LocalForwarder } from '../src/agent/local-forwarder.js'
import { buildRouteTable, type RouteSpec } from '../src/agent/routes.js'
import type { RequestHead } from '../src/protocol/index.js'

const count = Number(process.argv[2] ?? 200_000)

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

function fifty(last: RouteSpec): RouteSpec[] {
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
    }),
  },
]

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
  for (let i = 0; i < 20_000; i++) sink += forwarder.requestHeaders(head, forwarder.routeFor(head)).length
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) sink += forwarder.requestHeaders(head, forwarder.routeFor(head)).length
  const ns = Number(process.hrtime.bigint() - start) / count
  await forwarder.close()
  if (sink === 0) throw new Error('nothing computed')
  results.push({ case: c.name, nsPerRequest: Math.round(ns) })
}
const base = results[0]!.nsPerRequest
for (const r of results) process.stdout.write(`${JSON.stringify({ ...r, overNoRoutesNs: r.nsPerRequest - base })}\n`)
