/**
 * The rules of the emulated Cloud Run front end, each one an option with
 * Cloud Run's own value as the default (times compressed by the tests).
 */
export interface CloudRunOptions {
  /** Service name: `K_SERVICE` on every instance. */
  service: string
  /** Revision name prefix: `K_REVISION` is `<service>-<revision>`; a rolling replacement bumps it. */
  revision: string
  /** Instances started by `start()`. */
  instances: number
  /** The request timeout: every request, a WebSocket included, is cut when it reaches it (Cloud Run: 300 s, at most 3600 s). */
  timeoutMs: number
  /** Requests (WebSockets included) an instance takes at once; `429` from the front end past it on every instance (Cloud Run: 80). */
  concurrency: number
  /** Largest HTTP/1 request body (`413` beyond); lifted in h2c mode (Cloud Run: 32 MiB). */
  maxHttp1BodyBytes: number
  /** `--use-http2`: speak h2c to the instances (no body cap; WebSockets only as RFC 8441 extended CONNECT). */
  http2: boolean
  /** Best-effort session affinity (`--session-affinity`): a cookie brings a client back to its instance while it is live and has room. */
  affinity: boolean
  /** Time a new instance takes before it is routed to, after its process listens. */
  coldStartMs: number
  /** SIGTERM to SIGKILL for a leaving instance (Cloud Run: 10 s). */
  killAfterMs: number
  /** How long a request waits for an instance when none is live (a cold start); `429` after. */
  pendingTimeoutMs: number
  /** Extra arguments of `adit server` on every instance. */
  args: string[]
  /** Extra environment of every instance (signing key, Redis, API keys …). */
  env: NodeJS.ProcessEnv
}

export const cloudRunDefaults: CloudRunOptions = {
  service: 'adit',
  revision: '00001',
  instances: 1,
  timeoutMs: 300_000,
  concurrency: 80,
  maxHttp1BodyBytes: 32 * 1024 * 1024,
  http2: false,
  affinity: false,
  coldStartMs: 0,
  killAfterMs: 10_000,
  pendingTimeoutMs: 10_000,
  args: [],
  env: {},
}

/** Defaults filled in; a bad option is named. */
export function resolveCloudRunOptions(input: Partial<CloudRunOptions>): CloudRunOptions {
  const options = { ...cloudRunDefaults, ...input }
  for (const name of ['timeoutMs', 'concurrency', 'maxHttp1BodyBytes', 'killAfterMs', 'pendingTimeoutMs'] as const) {
    if (!Number.isFinite(options[name]) || options[name] <= 0) throw new Error(`cloud-run option ${name} must be a positive number, got ${options[name]}`)
  }
  if (!Number.isInteger(options.instances) || options.instances < 0)
    throw new Error(`cloud-run option instances must be a whole number, got ${options.instances}`)
  if (options.coldStartMs < 0) throw new Error(`cloud-run option coldStartMs must be 0 or more, got ${options.coldStartMs}`)
  if (!/^[a-z][a-z0-9-]*$/.test(options.service)) throw new Error(`cloud-run option service must be a Cloud Run service name, got ${options.service}`)
  return options
}
