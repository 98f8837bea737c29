/**
 * Whether an OpenTelemetry SDK has registered itself, told without loading
 * `@opentelemetry/api`: the API keeps its registrations on a global symbol
 * (`opentelemetry.js.api.1`, see its `internal/global-utils`). Without one
 * every span is a no-op, so the agent can skip its tracing glue.
 */
const OTEL_API_KEY = Symbol.for('opentelemetry.js.api.1')

export function otelRegistered(): boolean {
  const registry = (globalThis as Record<symbol, Record<string, unknown> | undefined>)[OTEL_API_KEY]
  return registry !== undefined && (registry.trace !== undefined || registry.context !== undefined || registry.propagation !== undefined)
}
