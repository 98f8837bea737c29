// The undici 7 modules src/http/undici-parts.ts imports directly (undici ships types for its index only).
declare module 'undici/lib/dispatcher/dispatcher.js' {
  const Dispatcher: typeof import('undici').Dispatcher
  export default Dispatcher
}
declare module 'undici/lib/api/index.js' {
  const api: Record<string, unknown>
  export default api
}
declare module 'undici/lib/core/util.js' {
  const util: { parseURL(url: string | URL): URL; parseOrigin(url: string | URL): URL }
  export default util
}
