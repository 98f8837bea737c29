/**
 * Every setting of `adit server` and `adit agent`, once: its config-file
 * key, its flag and its environment variable. cli.ts declares the flags
 * from these tables, config-file.ts resolves them with one rule
 * (flag > env > file > default), and `--print-config` lists them.
 */
export interface Setting {
  /** Config-file key; also the flag's camelCase attribute name. */
  key: string
  /** Commander flag spec, e.g. `--port <port>`; no `<value>` for a switch. */
  flag: string
  /** Environment variable (the first is shown in help; later ones are older aliases). */
  env: string[]
  description: string
  /** The default, as shown to people (the value itself lives with the component's `defaults`). */
  shownDefault?: string
  /** Never printed (`--print-config` shows `[redacted]`). */
  secret?: boolean
  /** A switch: true/false rather than a value. */
  boolean?: boolean
  /** The flag may be given several times; the values travel comma-separated (env and file too). */
  repeatable?: boolean
}

export const serverSettings: readonly Setting[] = [
  { key: 'port', flag: '--port <port>', env: ['PORT'], description: 'port to listen on (0 picks a free one)', shownDefault: '8080' },
  { key: 'host', flag: '--host <address>', env: ['HOST'], description: 'address to listen on', shownDefault: '0.0.0.0' },
  {
    key: 'publicBaseUrl',
    flag: '--public-base-url <url>',
    env: ['PUBLIC_BASE_URL'],
    description: 'base of public URLs handed to agents, e.g. https://adit.example.com',
  },
  {
    key: 'publicHostSuffix',
    flag: '--public-host-suffix <domain>',
    env: ['PUBLIC_HOST_SUFFIX'],
    description: 'wildcard domain for host routing: {id}.<domain> reaches tunnel id with no /pub prefix',
  },
  {
    key: 'holdTimeout',
    flag: '--hold-timeout <duration>',
    env: ['ADIT_HOLD_TIMEOUT'],
    description: 'how long a request waits for a reconnecting agent (503 after)',
    shownDefault: '10s',
  },
  {
    key: 'holdWindow',
    flag: '--hold-window <duration>',
    env: ['ADIT_HOLD_WINDOW'],
    description: 'an agent gone less than this long counts as reconnecting',
    shownDefault: '30s',
  },
  {
    key: 'signingKey',
    flag: '--signing-key <keys>',
    env: ['ADIT_SIGNING_KEY'],
    description: 'secret(s) that sign tunnel credentials, comma-separated, first one signs',
    secret: true,
  },
  {
    key: 'responseTimeout',
    flag: '--response-timeout <duration>',
    env: ['ADIT_RESPONSE_TIMEOUT'],
    description: 'time the agent and its service have to answer (504 after)',
    shownDefault: '30s',
  },
  {
    key: 'headersTimeout',
    flag: '--headers-timeout <duration>',
    env: ['ADIT_HEADERS_TIMEOUT'],
    description: 'time a public client has to send its request head',
    shownDefault: '20s',
  },
  {
    key: 'keepAliveTimeout',
    flag: '--keep-alive-timeout <duration>',
    env: ['ADIT_KEEP_ALIVE_TIMEOUT'],
    description: 'idle time of public keep-alive connections',
    shownDefault: '65s',
  },
  {
    key: 'maxHeaderBytes',
    flag: '--max-header-bytes <size>',
    env: ['ADIT_MAX_HEADER_BYTES'],
    description: 'largest public request head (431 beyond)',
    shownDefault: '16k',
  },
  {
    key: 'maxFrameBytes',
    flag: '--max-frame-bytes <size>',
    env: ['ADIT_MAX_FRAME_BYTES'],
    description: 'largest WebSocket message an agent may send',
    shownDefault: '1m',
  },
  {
    key: 'maxJsonBody',
    flag: '--max-json-body <size>',
    env: ['ADIT_MAX_JSON_BODY'],
    description: 'largest request body buffered for an adit.json.v1 agent (413 beyond)',
    shownDefault: '32m',
  },
  {
    key: 'heartbeat',
    flag: '--heartbeat <duration>',
    env: ['ADIT_HEARTBEAT'],
    description: 'interval of pings to agents; one missed closes the connection',
    shownDefault: '25s',
  },
  {
    key: 'trustProxy',
    flag: '--trust-proxy <bool>',
    env: ['ADIT_TRUST_PROXY'],
    description: 'trust X-Forwarded-* from the peer',
    shownDefault: 'true on Cloud Run, else false',
  },
  {
    key: 'drainTimeout',
    flag: '--drain-timeout <duration>',
    env: ['ADIT_DRAIN_TIMEOUT'],
    description: 'time SIGTERM gives streams in flight',
    shownDefault: '8s',
  },
  {
    key: 'serviceTimeout',
    flag: '--service-timeout <duration>',
    env: ['ADIT_SERVICE_TIMEOUT'],
    description: "the front end's request timeout (Cloud Run --timeout); agents replace their connections at half of it; 0 none",
    shownDefault: '300s on Cloud Run (K_SERVICE set), else none',
  },
  {
    key: 'h2c',
    flag: '--h2c',
    env: ['ADIT_H2C'],
    description: 'also accept HTTP/2 with prior knowledge (h2c) on the same port',
    boolean: true,
    shownDefault: 'off',
  },
  { key: 'metrics', flag: '--metrics <bool>', env: ['ADIT_METRICS'], description: 'serve Prometheus metrics at /metrics', shownDefault: 'true' },
  {
    key: 'adminToken',
    flag: '--admin-token <token>',
    env: ['ADIT_ADMIN_TOKEN'],
    description: 'turns on /dashboard for whoever holds this token (16+ characters)',
    secret: true,
  },
  {
    key: 'metricsToken',
    flag: '--metrics-token <token>',
    env: ['ADIT_METRICS_TOKEN'],
    description: '/metrics requires Authorization: Bearer <token> (16+ characters)',
    secret: true,
  },
  {
    key: 'traceProject',
    flag: '--trace-project <project>',
    env: ['GOOGLE_CLOUD_PROJECT'],
    description: 'Google Cloud project id; links access lines to Cloud Trace',
  },
  {
    key: 'redisUrl',
    flag: '--redis-url <url>',
    env: ['REDIS_URL'],
    description: 'share tunnels with every instance on this Redis (redis:// or rediss://); in-memory when unset',
    secret: true,
  },
  {
    key: 'redisPrefix',
    flag: '--redis-prefix <prefix>',
    env: ['ADIT_REDIS_PREFIX'],
    description: 'key prefix in Redis, to share one Redis between deployments',
    shownDefault: 'adit:',
  },
  {
    key: 'instanceId',
    flag: '--instance-id <id>',
    env: ['ADIT_INSTANCE_ID'],
    description: 'this instance on the cluster bus; unique per live instance',
    shownDefault: 'host name + random',
  },
  { key: 'logLevel', flag: '--log-level <level>', env: ['LOG_LEVEL'], description: 'trace, debug, info, warn, error', shownDefault: 'info' },
  {
    key: 'logFormat',
    flag: '--log-format <format>',
    env: ['ADIT_LOG_FORMAT'],
    description: 'json, pretty, or auto (pretty on a terminal)',
    shownDefault: 'auto',
  },
  // Security (src/server/security). Secrets are best given by environment or config file: a flag shows in the process list.
  {
    key: 'apiKeys',
    flag: '--api-keys <keys>',
    env: ['ADIT_API_KEYS'],
    description: 'API keys that may register tunnels, comma-separated (12+ characters each)',
    secret: true,
  },
  { key: 'jwtSecret', flag: '--jwt-secret <secret>', env: ['ADIT_JWT_SECRET'], description: 'HS256 secret for registration JWTs', secret: true },
  { key: 'jwksUrl', flag: '--jwks-url <url>', env: ['ADIT_JWKS_URL'], description: 'JWKS URL for registration JWTs (https)' },
  { key: 'jwtIssuer', flag: '--jwt-issuer <issuer>', env: ['ADIT_JWT_ISSUER'], description: 'required iss of registration JWTs' },
  { key: 'jwtAudience', flag: '--jwt-audience <audience>', env: ['ADIT_JWT_AUDIENCE'], description: 'required aud of registration JWTs' },
  {
    key: 'allowHttpJwks',
    flag: '--allow-http-jwks',
    env: ['ADIT_ALLOW_HTTP_JWKS'],
    description: "allow http:// key-set URLs in tunnels' --require-jwt",
    boolean: true,
    shownDefault: 'off',
  },
  {
    key: 'allowOpenRegistration',
    flag: '--allow-open-registration',
    env: ['ADIT_ALLOW_OPEN_REGISTRATION'],
    description: 'allow registration without a key even on Cloud Run',
    boolean: true,
    shownDefault: 'off',
  },
  {
    key: 'registerRate',
    flag: '--register-rate <rate>',
    env: ['ADIT_REGISTER_RATE'],
    description: 'registrations per client address, e.g. 30/m (429 beyond)',
    shownDefault: '30/m',
  },
  {
    key: 'maxTunnelsPerKey',
    flag: '--max-tunnels-per-key <n>',
    env: ['ADIT_MAX_TUNNELS_PER_KEY'],
    description: 'tunnels one API key may own (0: no cap)',
    shownDefault: '100',
  },
  {
    key: 'maxStreamsPerTunnel',
    flag: '--max-streams-per-tunnel <n>',
    env: ['ADIT_MAX_STREAMS_PER_TUNNEL'],
    description: 'requests in flight per tunnel (429 beyond; 0: no cap)',
    shownDefault: '1000',
  },
  {
    key: 'tunnelRate',
    flag: '--tunnel-rate <rate>',
    env: ['ADIT_TUNNEL_RATE'],
    description: 'public requests per tunnel, e.g. 100/s (429 beyond; 0: no limit)',
    shownDefault: 'off',
  },
  {
    key: 'idleTtl',
    flag: '--idle-ttl <duration>',
    env: ['TUNNEL_IDLE_TTL'],
    description: 'revoke tunnels whose agent has been away this long (0: never)',
    shownDefault: '168h',
  },
  {
    key: 'rotationGrace',
    flag: '--rotation-grace <duration>',
    env: ['ADIT_ROTATION_GRACE'],
    description: 'how long the old secret works after POST /tunnels/{id}/rotate',
    shownDefault: '5m',
  },
  {
    key: 'authFreeFailures',
    flag: '--auth-free-failures <n>',
    env: ['ADIT_AUTH_FREE_FAILURES'],
    description: 'wrong admin tokens or basic-auth passwords per client address before the back-off (429) starts',
    shownDefault: '5',
  },
  {
    key: 'authMaxBackoff',
    flag: '--auth-max-backoff <duration>',
    env: ['ADIT_AUTH_MAX_BACKOFF'],
    description: 'longest wait after wrong credentials (starts at 1s, doubles per failure)',
    shownDefault: '15m',
  },
  {
    key: 'authHashConcurrency',
    flag: '--auth-hash-concurrency <n>',
    env: ['ADIT_AUTH_HASH_CONCURRENCY'],
    description: 'basic-auth password hashes (scrypt) run at once; checks beyond the queue get 503',
    shownDefault: '2',
  },
]

export const agentSettings: readonly Setting[] = [
  { key: 'server', flag: '--server <url>', env: ['ADIT_SERVER'], description: 'the adit server', shownDefault: 'http://127.0.0.1:8080' },
  { key: 'local', flag: '--local <url>', env: ['ADIT_LOCAL'], description: 'the local service (scheme://host:port)', shownDefault: 'http://127.0.0.1:3000' },
  {
    key: 'route',
    flag: '--route <[host]/path=url>',
    env: ['ADIT_ROUTE'],
    description:
      'send a host and/or path prefix to its own local service, first match wins; repeat it (/api=http://127.0.0.1:4000); with --local, that is the catch-all',
    repeatable: true,
  },
  {
    key: 'stateFile',
    flag: '--state-file <path>',
    env: ['ADIT_STATE_FILE'],
    description: "where the tunnel's id and secret are kept ('none' keeps nothing)",
    shownDefault: '~/.config/adit/agent-state.json',
  },
  { key: 'apiKey', flag: '--api-key <key>', env: ['ADIT_API_KEY'], description: 'API key for registration, when the server needs one', secret: true },
  { key: 'connections', flag: '--connections <n>', env: ['ADIT_CONNECTIONS'], description: 'WebSocket connections to the server', shownDefault: '2' },
  { key: 'name', flag: '--name <name>', env: ['ADIT_NAME'], description: 'ask for this name as the tunnel id (a DNS label)' },
  {
    key: 'maxConnectionAge',
    flag: '--max-connection-age <duration>',
    env: ['ADIT_MAX_CONNECTION_AGE'],
    description: 'replace each connection after this long, make before break (0 never)',
    shownDefault: '50m',
  },
  {
    key: 'hostHeader',
    flag: '--host-header <mode>',
    env: ['ADIT_HOST_HEADER'],
    description: 'Host the local service sees: rewrite, preserve or a value',
    shownDefault: 'rewrite',
  },
  {
    key: 'localInsecure',
    flag: '--local-insecure',
    env: ['ADIT_LOCAL_INSECURE'],
    description: 'accept a self-signed certificate from an https local service',
    boolean: true,
    shownDefault: 'off',
  },
  {
    key: 'localConnections',
    flag: '--local-connections <n>',
    env: ['ADIT_LOCAL_CONNECTIONS'],
    description: 'keep-alive connections to the local service at most',
    shownDefault: '128',
  },
  {
    key: 'reconnectMax',
    flag: '--reconnect-max <duration>',
    env: ['ADIT_RECONNECT_MAX'],
    description: 'longest wait between reconnect attempts',
    shownDefault: '30s',
  },
  {
    key: 'maxFrameBytes',
    flag: '--max-frame-bytes <size>',
    env: ['ADIT_MAX_FRAME_BYTES'],
    description: 'largest WebSocket message accepted from the server',
    shownDefault: '1m',
  },
  {
    key: 'metricsAddr',
    flag: '--metrics-addr <host:port>',
    env: ['ADIT_METRICS_ADDR'],
    description: "serve the agent's Prometheus metrics at http://<host:port>/metrics",
    shownDefault: 'off',
  },
  {
    key: 'inspect',
    flag: '--inspect [address]',
    env: ['ADIT_INSPECT'],
    description: 'serve the request inspector on host:port (--no-inspect or false: off)',
    shownDefault: 'on, 127.0.0.1:4040, or 4041…4049 if taken',
  },
  { key: 'inspectAddr', flag: '--inspect-addr <address>', env: ['ADIT_INSPECT_ADDR'], description: "the inspector's host:port (same as --inspect <address>)" },
  {
    key: 'json',
    flag: '--json',
    env: ['ADIT_JSON'],
    description: 'print one JSON object per line (ready, then one per request)',
    boolean: true,
    shownDefault: 'off',
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: ['LOG_LEVEL'],
    description: 'trace, debug, info, warn, error (logs go to stderr)',
    shownDefault: 'info',
  },
  // Public access rules the server enforces for this tunnel (sent at registration).
  {
    key: 'basicAuth',
    flag: '--basic-auth <user:pass>',
    env: ['ADIT_BASIC_AUTH'],
    description: 'public visitors must log in with this user and password (checked by the server)',
    secret: true,
  },
  { key: 'allowIp', flag: '--allow-ip <cidrs>', env: ['ADIT_ALLOW_IP'], description: 'only these addresses/CIDRs may use the public URL, comma-separated' },
  {
    key: 'requireJwt',
    flag: '--require-jwt <spec>',
    env: ['ADIT_REQUIRE_JWT'],
    description: 'public requests need a bearer JWT: issuer=…,audience=…,jwks=https://…',
  },
  {
    key: 'logFormat',
    flag: '--log-format <format>',
    env: ['ADIT_LOG_FORMAT'],
    description: 'json, pretty, or auto (pretty on a terminal)',
    shownDefault: 'auto',
  },
]

/** `--response-timeout` → the flag's name without its value placeholder. */
export function flagName(setting: Setting): string {
  return setting.flag.split(' ')[0]!
}

/** How a setting is named in errors: every way to set it. */
export function settingLabel(setting: Setting): string {
  return `${flagName(setting)} / ${setting.env[0]} / config key ${setting.key}`
}
