import { createRequire } from 'node:module'

/**
 * node:http, loaded with require(). On Node 24 an ESM `import … from
 * 'node:http'` builds the module's ESM facade, which reads every export, and
 * node:http's lazy `WebSocket`/`CloseEvent`/… getters then load Node's own
 * bundled undici: ~25 ms of every start (CPU profile of `adit http`), for a
 * WebSocket the agent never uses. require() reads no export it is not asked
 * for. Modules on the agent's start path take node:http from here (types may
 * still be imported with `import type`).
 */
export const http: typeof import('node:http') = createRequire(import.meta.url)('node:http')
