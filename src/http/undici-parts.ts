import { createRequire } from 'node:module'
import type * as Undici from 'undici'
import DispatcherModule from 'undici/lib/dispatcher/dispatcher.js'
import api from 'undici/lib/api/index.js'
import util from 'undici/lib/core/util.js'

/*
 * The parts of undici the agent uses, without its index: `import 'undici'`
 * loads ~110 files (fetch, its WebSocket, EventSource, caches, mocks, proxy
 * agents, interceptors …), ~45 ms of `adit http`'s start on Node 24; the
 * dispatcher, pool, connector and request API are about half of that. These
 * are the same module instances the index exports (one require cache), so
 * classes and errors are identical either way. The paths are undici 7's
 * (package.json pins ^7; test/unit/cli/lazy-start.test.ts and every agent
 * test run through them).
 */

// What the index does: request(), stream(), pipeline() … are Dispatcher methods (the inspector's replay calls pool.request()).
Object.assign(DispatcherModule.prototype, api)

export const Dispatcher: typeof Undici.Dispatcher = DispatcherModule

/*
 * The pool (its client, HTTP/1.1 and HTTP/2 parsers, node:http2: ~25 ms of a start on Node 24), the
 * connector and the global agent are loaded when first used: the agent makes its pools once it is
 * online (LocalForwarder.warm), after the `forwarding` line. require() keeps that synchronous; where
 * a plain `require` exists (the esbuild bundles, which inline what it names) it is that one.
 */
let poolClass: typeof Undici.Pool | undefined
let connector: typeof Undici.buildConnector | undefined
let globalDispatcher: (() => Undici.Dispatcher) | undefined

export function createPool(origin: string, options: Undici.Pool.Options): Undici.Pool {
  poolClass ??= (
    typeof require === 'function' ? require('undici/lib/dispatcher/pool.js') : createRequire(import.meta.url)('undici/lib/dispatcher/pool.js')
  ) as typeof Undici.Pool
  return new poolClass(origin, options)
}

export function buildConnector(options: Undici.buildConnector.BuildOptions): Undici.buildConnector.connector {
  connector ??= (
    typeof require === 'function' ? require('undici/lib/core/connect.js') : createRequire(import.meta.url)('undici/lib/core/connect.js')
  ) as typeof Undici.buildConnector
  return connector(options)
}

function getGlobalDispatcher(): Undici.Dispatcher {
  globalDispatcher ??= (
    (typeof require === 'function' ? require('undici/lib/global.js') : createRequire(import.meta.url)('undici/lib/global.js')) as {
      getGlobalDispatcher(): Undici.Dispatcher
    }
  ).getGlobalDispatcher
  return globalDispatcher()
}

type RequestOptions = { path?: string; method?: string; body?: unknown; dispatcher?: Undici.Dispatcher } & Record<string, unknown>

/**
 * undici's top-level request(url, options): its index's makeDispatcher(api.request), line for line
 * (undici 7 index.js), so the agent's requests are what `import { request } from 'undici'` sent.
 */
export const request = ((target: string | URL, given?: RequestOptions) => {
  let url: URL
  let opts = given
  if (opts && opts.path != null) {
    const path = opts.path.startsWith('/') ? opts.path : `/${opts.path}`
    url = new URL(util.parseOrigin(target).origin + path)
  } else {
    if (!opts) opts = typeof target === 'object' ? (target as unknown as RequestOptions) : {}
    url = util.parseURL(target)
  }
  const { dispatcher = getGlobalDispatcher() } = opts
  return dispatcher.request({
    ...opts,
    origin: url.origin,
    path: url.search ? `${url.pathname}${url.search}` : url.pathname,
    method: opts.method || (opts.body ? 'PUT' : 'GET'),
  } as Undici.Dispatcher.RequestOptions)
}) as typeof Undici.request
