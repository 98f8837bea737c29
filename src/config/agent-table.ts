/**
 * Every setting of `adit agent`, once. Defaults are the agent's own
 * `agentDefaults` (agent/config.ts), referenced here, never restated.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { agentDefaults, parseHostHeader, type HostHeaderMode } from '../agent/config.js'
import { parseAllowIpFlag, parseBasicAuthFlag, parseRequireJwtFlag } from '../agent/access-flags.js'
import { ConfigError } from '../errors.js'
import { parseListenAddress } from '../observability/metrics-http.js'
import { parseLocalTarget } from '../agent/local-target.js'
import { defaultStateFile } from '../agent/config-dir.js'
import { routesFromFlags } from './route-config.js'
import { parseRateLimit } from '../agent/visitor-limits.js'
import { bytes, duration, flagSwitch, integer, repeated, setting, text, type AnySetting, type SettingType } from './setting.js'
import { logFormatSetting, logLevelSetting } from './server-table.js'

function expandHome(value: string): string {
  return value === '~' || value.startsWith('~/') ? join(homedir(), value.slice(1)) : value
}

/** A path, `~` expanded; `none` is null (keep nothing). */
const stateFileType: SettingType<string | null> = {
  ...text('path'),
  parse: (value) => (value.trim() === 'none' ? null : value.trim() === '' ? undefined : expandHome(value.trim())),
  format: (value) => (value === null ? 'none' : value),
}

const localType: SettingType<string> = { ...text('target'), parse: (value, name) => parseLocalTarget(value, name) }

const hostHeaderType: SettingType<HostHeaderMode> = {
  ...(text('mode') as unknown as SettingType<HostHeaderMode>),
  parse(value) {
    return parseHostHeader(value.trim())
  },
  format: (value) => (typeof value === 'object' ? value.value : value),
}

/** `--inspect` alone (true), `--no-inspect` (false) or an address; `false`/`off` as text is off too. */
const inspectType: SettingType<string | boolean> = {
  placeholder: 'address',
  optionalValue: true,
  parse: (value) => value.trim(),
  fromFile(value, name) {
    if (typeof value === 'boolean') return value
    if (typeof value === 'number') return String(value)
    throw new ConfigError(`${name} must be true, false or host:port, got ${JSON.stringify(value)}`)
  },
  format: (value) => value,
}

export const agentSettings: readonly AnySetting[] = [
  setting({
    key: 'server',
    flag: '--server',
    env: ['ADIT_SERVER'],
    type: text('url'),
    default: agentDefaults.server,
    doc: 'the adit server',
    option: 'server',
  }),
  setting({
    key: 'local',
    flag: '--local',
    env: ['ADIT_LOCAL'],
    type: localType,
    default: agentDefaults.local,
    doc: 'your service: `3000`, `:3000`, `host:port` (plain http), an `http://` or `https://` origin (HTTP/2 when it offers h2 by ALPN), or `h2c://host:port` for HTTP/2 without TLS (gRPC servers); the agent never connects anywhere else',
    option: 'local',
  }),
  setting({
    key: 'route',
    flag: '--route',
    env: ['ADIT_ROUTE'],
    type: repeated('[host]/path=url', (value) => void routesFromFlags(value, undefined)),
    doc: 'several local services: first match wins by host and path prefix; repeat it; `--local`, if given, is the catch-all (see [Routes and rules](#routes-and-rules))',
  }),
  setting({
    key: 'stateFile',
    flag: '--state-file',
    env: ['ADIT_STATE_FILE'],
    type: stateFileType,
    default: agentDefaults.stateFile,
    defaultFrom: (env) => defaultStateFile(env),
    defaultText: '`~/.config/adit/agent-state.json`',
    doc: 'where id, secret and URL are kept (0600; under `$XDG_CONFIG_HOME/adit/` when that is set); `none` keeps nothing',
    option: 'stateFile',
  }),
  setting({
    key: 'apiKey',
    flag: '--api-key',
    env: ['ADIT_API_KEY'],
    type: text('key'),
    doc: 'sent to `/register` when the server requires a key',
    secret: true,
    option: 'apiKey',
  }),
  setting({
    key: 'connections',
    flag: '--connections',
    env: ['ADIT_CONNECTIONS'],
    type: integer('n', 1, 16),
    default: agentDefaults.connections,
    doc: 'WebSocket connections to the server; new requests go to the least busy',
    option: 'connections',
  }),
  setting({
    key: 'name',
    flag: '--name',
    env: ['ADIT_NAME'],
    type: text('name'),
    doc: 'ask for this name as the tunnel id (3–63 lowercase letters, digits, dashes; not a reserved name, see below); `409` if another tunnel has it; it stays yours while your state file does',
    option: 'name',
  }),
  setting({
    key: 'maxConnectionAge',
    flag: '--max-connection-age',
    env: ['ADIT_MAX_CONNECTION_AGE'],
    type: duration(),
    default: agentDefaults.maxConnectionAgeMs,
    doc: "replace each connection after this long (±10% jitter), make before break; a server that knows its front end's request timeout (`--service-timeout`) makes the agent replace them at half of that when it is shorter; `0` never (unless the server says otherwise)",
    option: 'maxConnectionAgeMs',
  }),
  setting({
    key: 'hostHeader',
    flag: '--host-header',
    env: ['ADIT_HOST_HEADER'],
    type: hostHeaderType,
    default: agentDefaults.hostHeader,
    doc: 'the `Host` your service sees: `rewrite` (the `--local` host, as ngrok does), `preserve` (the public one), or a fixed value',
    option: 'hostHeader',
  }),
  setting({
    key: 'localInsecure',
    flag: '--local-insecure',
    env: ['ADIT_LOCAL_INSECURE'],
    type: flagSwitch(),
    default: agentDefaults.localInsecure,
    doc: 'accept a self-signed certificate from an `https://` service',
    option: 'localInsecure',
  }),
  setting({
    key: 'localConnections',
    flag: '--local-connections',
    env: ['ADIT_LOCAL_CONNECTIONS'],
    type: integer('n', 1),
    default: agentDefaults.localConnections,
    doc: 'keep-alive connections to your service at most',
    option: 'localConnections',
  }),
  setting({
    key: 'reconnectMax',
    flag: '--reconnect-max',
    env: ['ADIT_RECONNECT_MAX'],
    type: duration(),
    default: agentDefaults.reconnectMaxMs,
    doc: 'longest wait between reconnect attempts',
    option: 'reconnectMaxMs',
  }),
  setting({
    key: 'maxFrameBytes',
    flag: '--max-frame-bytes',
    env: ['ADIT_MAX_FRAME_BYTES'],
    type: bytes(),
    default: agentDefaults.maxFrameBytes,
    doc: 'largest WebSocket message accepted from the server',
    option: 'maxFrameBytes',
  }),
  setting({
    key: 'metricsAddr',
    flag: '--metrics-addr',
    env: ['ADIT_METRICS_ADDR'],
    type: text('host:port', (value, name) => void parseListenAddress(name, value)),
    defaultText: 'off',
    doc: "serve the agent's Prometheus metrics at `http://<host:port>/metrics`",
  }),
  setting({
    key: 'inspect',
    flag: '--inspect',
    env: ['ADIT_INSPECT'],
    type: inspectType,
    defaultText: '`127.0.0.1:4040`',
    doc: 'the request inspector (below) is **on by default**; if 4040 is taken it tries 4041…4049, then runs without it and says so. `--inspect 127.0.0.1:0` picks a free port; `--no-inspect` or `ADIT_INSPECT=false` turns it off',
  }),
  setting({
    key: 'inspectAddr',
    flag: '--inspect-addr',
    env: ['ADIT_INSPECT_ADDR'],
    type: text('host:port'),
    doc: "the inspector's address (same as `--inspect <address>`)",
  }),
  setting({
    key: 'json',
    flag: '--json',
    env: ['ADIT_JSON'],
    type: flagSwitch(),
    default: false,
    doc: 'one JSON object per line on stdout: first `{"event":"ready","id","public_url"}`, then one per finished request (`method`, `path`, `status`, `bytes`, `ms`)',
  }),
  logLevelSetting('logs go to stderr, as JSON lines (readable lines on a terminal); under the status table on a terminal only `error` unless set'),
  logFormatSetting('`json`, `pretty` or `auto`'),
  // Public access rules the server enforces for this tunnel (sent at registration).
  setting({
    key: 'basicAuth',
    flag: '--basic-auth',
    env: ['ADIT_BASIC_AUTH'],
    type: text('user:pass', (value) => void parseBasicAuthFlag(value)),
    doc: 'public visitors must log in (HTTP basic auth, checked by the server, which keeps only a salted scrypt hash; the header is not passed to your service)',
    secret: true,
  }),
  setting({
    key: 'allowIp',
    flag: '--allow-ip',
    env: ['ADIT_ALLOW_IP'],
    type: text('cidrs', (value) => void parseAllowIpFlag(value)),
    doc: 'only these IPv4/IPv6 addresses or CIDRs may use the public URL (`403` otherwise), comma-separated; behind a proxy the server needs `--trust-proxy`',
  }),
  setting({
    key: 'rateLimit',
    flag: '--rate-limit',
    env: ['ADIT_RATE_LIMIT'],
    type: text('rate', (value, name) => void parseRateLimit(name, value)),
    doc: 'per-visitor limit the server enforces (token bucket, `429` + `Retry-After`): `10/s`, `100/m`, `1000/h`, then `,burst=N` and `,by=ip` (default) or `,by=header:<name>`; a route can have its own `rate_limit`',
  }),
  setting({
    key: 'requireJwt',
    flag: '--require-jwt',
    env: ['ADIT_REQUIRE_JWT'],
    type: text('spec', (value) => void parseRequireJwtFlag(value)),
    doc: 'public requests need `Authorization: Bearer <JWT>` valid under `jwks=<https URL>`, with optional `issuer=…`, `audience=…`',
  }),
]
