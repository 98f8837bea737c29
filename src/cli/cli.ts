import { Command, Option } from 'commander'
import { runAgent, type AgentFlags } from './agent-command.js'
import type { ValueSource } from './agent-config-file.js'
import { runServer, type ServerFlags } from './server-command.js'

/**
 * The command declarations, and nothing else: each command is a typed async
 * function; only bin.ts turns errors into exit codes.
 */
export function buildCli(): Command {
  const program = new Command('adit')
    .description('Self-hosted reverse tunnel for HTTP')
    .version('0.1.0')
    .showHelpAfterError()

  program
    .command('server')
    .description('run the public tunnel server')
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').env('PORT').default('8080'))
    .addOption(new Option('--host <address>', 'address to listen on').env('HOST').default('0.0.0.0'))
    .addOption(new Option('--public-base-url <url>', 'base of public URLs handed to agents, e.g. https://adit.example.com').env('PUBLIC_BASE_URL'))
    .addOption(new Option('--signing-key <keys>', 'secret(s) that sign tunnel credentials, comma-separated, first one signs').env('ADIT_SIGNING_KEY'))
    .addOption(new Option('--response-timeout <duration>', 'time the agent and its service have to answer (504 after)').env('ADIT_RESPONSE_TIMEOUT'))
    .addOption(new Option('--max-header-bytes <size>', 'largest public request head (431 beyond)').env('ADIT_MAX_HEADER_BYTES'))
    .addOption(new Option('--trust-proxy <bool>', 'trust X-Forwarded-* from the peer (default: true on Cloud Run)').env('ADIT_TRUST_PROXY'))
    .addOption(new Option('--drain-timeout <duration>', 'time SIGTERM gives streams in flight').env('ADIT_DRAIN_TIMEOUT'))
    .addOption(new Option('--hold-timeout <duration>', 'how long a request waits for a reconnecting agent (503 after)').env('ADIT_HOLD_TIMEOUT'))
    .addOption(new Option('--public-host-suffix <domain>', 'wildcard domain for host routing: {id}.<domain>').env('PUBLIC_HOST_SUFFIX'))
    .addOption(new Option('--admin-token <token>', 'turns on /dashboard for whoever holds this token (16+ characters)').env('ADIT_ADMIN_TOKEN'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').env('LOG_LEVEL'))
    .action((flags: ServerFlags) => runServer(flags))

  program
    .command('agent')
    .description('connect a local HTTP service to an adit server')
    .addOption(new Option('--server <url>', 'the adit server').env('ADIT_SERVER').default('http://127.0.0.1:8080'))
    .addOption(new Option('--local <url>', 'the local service (scheme://host:port)').env('ADIT_LOCAL').default('http://127.0.0.1:3000'))
    .addOption(new Option('--state-file <path>', "where the tunnel's id and secret are kept ('none' keeps nothing)").env('ADIT_STATE_FILE'))
    .addOption(new Option('--api-key <key>', 'API key for registration, when the server needs one').env('ADIT_API_KEY'))
    .addOption(new Option('--connections <n>', 'WebSocket connections to the server (default 2)').env('ADIT_CONNECTIONS'))
    .addOption(new Option('--name <name>', 'ask for this name as the tunnel id (a DNS label)').env('ADIT_NAME'))
    .addOption(new Option('--max-connection-age <duration>', 'replace each connection after this long, make before break (default 50m; 0 never)').env('ADIT_MAX_CONNECTION_AGE'))
    .addOption(new Option('--host-header <mode>', 'Host the local service sees: rewrite, preserve or a value').env('ADIT_HOST_HEADER'))
    .addOption(new Option('--local-insecure', 'accept a self-signed certificate from an https local service').env('ADIT_LOCAL_INSECURE'))
    .addOption(new Option('--json', 'print one JSON object per line (ready, then one per request)'))
    .addOption(new Option('--inspect [address]', 'serve the request inspector (on by default at 127.0.0.1:4040, or the next free port up to 4049)').env('ADIT_INSPECT'))
    .addOption(new Option('--no-inspect', 'do not serve the request inspector'))
    .addOption(new Option('--inspect-addr <address>', 'host:port for the inspector (same as --inspect <address>)').env('ADIT_INSPECT_ADDR'))
    .addOption(new Option('--config <file>', 'YAML config: these settings in snake_case, and a tunnels: list to run several (flags and env win)').env('ADIT_CONFIG'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error (logs go to stderr)').env('LOG_LEVEL'))
    .action((flags: AgentFlags, command: Command) => runAgent(flags, (name) => command.getOptionValueSource(name) as ValueSource))

  return program
}
