import type * as Undici from 'undici'
import DispatcherModule from 'undici/lib/dispatcher/dispatcher.js'
import api from 'undici/lib/api/index.js'
import PoolModule from 'undici/lib/dispatcher/pool.js'
import buildConnectorModule from 'undici/lib/core/connect.js'
import { getGlobalDispatcher } from 'undici/lib/global.js'
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
export const Pool: typeof Undici.Pool = PoolModule
export const buildConnector: typeof Undici.buildConnector = buildConnectorModule

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
