import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildRouteTable, parseRouteFlag, stripRoutePrefix } from '../../../src/agent/routes.js'
import { routesFromConfig, routesFromFlags } from '../../../src/config/route-config.js'
import { ErrorCode } from '../../../src/errors.js'

const isConfig = (e: { code?: string }) => e.code === ErrorCode.CONFIG

test('routes: first match wins by host and whole-segment path prefix; the last route catches the rest', () => {
  const table = buildRouteTable([
    { host: 'api.example.com', path: '/v2', local: 'http://127.0.0.1:4002' },
    { host: 'api.example.com', local: 'http://127.0.0.1:4001' },
    { host: '*.apps.example.com', local: 'http://127.0.0.1:4003' },
    { path: '/api/', local: 'http://127.0.0.1:4000' },
    { path: '/', local: 'http://127.0.0.1:3000' },
  ])
  const to = (host: string | undefined, path: string) => table.match(host, path).local?.port
  assert.equal(to('API.example.com:8443', '/v2/users'), '4002')
  assert.equal(to('api.example.com', '/v2'), '4002')
  assert.equal(to('api.example.com', '/v2x'), '4001')
  assert.equal(to('a.apps.example.com', '/'), '4003')
  assert.equal(to('apps.example.com', '/'), '3000', 'a wildcard needs a subdomain')
  assert.equal(to('web.example.com', '/api'), '4000')
  assert.equal(to('web.example.com', '/api?x=1'), '4000')
  assert.equal(to('web.example.com', '/api/x'), '4000')
  assert.equal(to('web.example.com', '/apix'), '3000', 'prefixes match whole segments')
  assert.equal(to(undefined, '/anything'), '3000')
  assert.equal(table.origins.length, 5)
})

test('routes: with no catch-all configured, an implicit 404 answers the rest', () => {
  const table = buildRouteTable([{ path: '/api', local: 'http://127.0.0.1:4000' }])
  const route = table.match('x', '/other')
  assert.equal(route.local, undefined)
  assert.equal(route.status, 404)
  assert.equal(route.implicit, true)
  assert.equal(buildRouteTable([{ path: '/gone', status: 410 }, { local: 'http://127.0.0.1:1' }]).match(undefined, '/gone/x').status, 410)
})

test('routes: a catch-all before other routes, a bad origin, path, host or status is refused', () => {
  assert.throws(
    () =>
      buildRouteTable([
        { path: '/', local: 'http://127.0.0.1:1' },
        { path: '/api', local: 'http://127.0.0.1:2' },
      ]),
    /put it last/,
  )
  assert.throws(() => buildRouteTable([{ path: '/api', local: 'http://127.0.0.1:2/base' }]), isConfig)
  assert.throws(() => buildRouteTable([{ path: '/api', local: 'ftp://127.0.0.1:2' }]), isConfig)
  assert.throws(() => buildRouteTable([{ path: 'api', local: 'http://127.0.0.1:2' }]), isConfig)
  assert.throws(() => buildRouteTable([{ host: 'http://x', local: 'http://127.0.0.1:2' }]), isConfig)
  assert.throws(() => buildRouteTable([{ path: '/x', status: 99 }]), isConfig)
  assert.throws(() => buildRouteTable([{ path: '/x', local: 'http://127.0.0.1:2', status: 404 }]), isConfig)
})

test('routes: stripPrefix removes the matched prefix, keeping the query', () => {
  const table = buildRouteTable([{ path: '/api', local: 'http://127.0.0.1:4000', stripPrefix: true }, { local: 'http://127.0.0.1:3000' }])
  const route = table.match(undefined, '/api/users?x=1')
  assert.equal(stripRoutePrefix(route, '/api/users?x=1'), '/users?x=1')
  assert.equal(stripRoutePrefix(route, '/api'), '/')
  assert.equal(stripRoutePrefix(route, '/api?x=1'), '/?x=1')
  assert.equal(stripRoutePrefix(table.match(undefined, '/web'), '/web'), '/web')
})

test('--route flags and routes: lists become route specs; an explicit --local is the catch-all', () => {
  assert.deepEqual(parseRouteFlag('/api=http://127.0.0.1:4000'), { path: '/api', local: 'http://127.0.0.1:4000' })
  assert.deepEqual(parseRouteFlag('app.example.com/=http://127.0.0.1:3000'), { host: 'app.example.com', path: '/', local: 'http://127.0.0.1:3000' })
  assert.deepEqual(parseRouteFlag('/old=410'), { path: '/old', status: 410 })
  assert.throws(() => parseRouteFlag('api=http://x'), isConfig)
  assert.throws(() => parseRouteFlag('/api'), isConfig)
  assert.deepEqual(routesFromFlags('/api=http://127.0.0.1:4000,/=http://127.0.0.1:3000', undefined), [
    { path: '/api', local: 'http://127.0.0.1:4000' },
    { path: '/', local: 'http://127.0.0.1:3000' },
  ])
  assert.deepEqual(routesFromFlags('/api=http://127.0.0.1:4000', 'http://127.0.0.1:3000')?.at(-1), { path: '/', local: 'http://127.0.0.1:3000' })
  assert.throws(() => routesFromFlags('/=http://127.0.0.1:4000', 'http://127.0.0.1:3000'), /both answer/)
  assert.deepEqual(
    routesFromConfig('routes', [
      { host: 'api.example.com', local: 'http://127.0.0.1:4000', host_header: 'preserve', 'response-timeout': '5s', strip_prefix: true, localInsecure: false },
    ]),
    [{ host: 'api.example.com', local: 'http://127.0.0.1:4000', hostHeader: 'preserve', responseTimeoutMs: 5000, stripPrefix: true, localInsecure: false }],
  )
  assert.throws(() => routesFromConfig('routes', [{ path: '/x', locl: 'http://x' }]), /unknown key "locl"/)
  assert.throws(() => routesFromConfig('routes', [{ path: '/x' }]), /needs local/)
  assert.throws(() => routesFromConfig('routes', []), isConfig)
})
