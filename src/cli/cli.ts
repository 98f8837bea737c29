import { Command, Option } from 'commander'
import { version } from '../version.js'
import type { DoctorFlags } from './doctor-command.js'
import type { TunnelsFlags } from './tunnels-command.js'
import type { LoginFlags } from './login-command.js'
import type { ConnectFlags } from './connect-command.js'
import { agentSettings } from '../config/agent-table.js'
import { serverSettings } from '../config/server-table.js'
import { flagSpec, type AnySetting } from '../config/setting.js'
import { configOption, helpText, noInspectOption, plain, printConfigOption, type CommandOption } from '../config/tables.js'

/** A row's flag, with its env variable in the help (commander reads it; see `typedOnly`). */
function optionFor(row: AnySetting): Option {
  const option = new Option(flagSpec(row), helpText(row)).env(row.env[0]!)
  // A repeated flag collects its values; src/config/resolve.ts joins them with commas like the env form.
  if (row.type.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
  return option
}

function commandOption(option: CommandOption): Option {
  const made = new Option(option.flag, plain(option.doc))
  return option.env === undefined ? made : made.env(option.env)
}

/**
 * The values typed on the command line only: environment variables and the
 * config file are applied by src/config/resolve.ts, so the one precedence
 * rule (flag > env > file > default) lives in one place. Options outside the
 * settings tables keep commander's value, env included.
 */
function typedOnly(command: Command, settings: readonly AnySetting[]): Record<string, unknown> {
  const flags: Record<string, unknown> = { ...command.opts() }
  for (const row of settings) {
    if (command.getOptionValueSource(row.key) !== 'cli') delete flags[row.key]
  }
  if (command.getOptionValueSource('config') !== 'cli') delete flags.config
  return flags
}

/*
 * Each command's module is loaded only when that command runs: `adit --version`
 * and `adit agent` never load the server's dependencies (Redis client,
 * Prometheus registry, …), which cost most of the start-up time.
 */
const runServer = async (flags: Record<string, unknown>): Promise<void> => (await import('./server-command.js')).runServer(flags)
const runAgent = async (flags: Record<string, unknown>, tcp?: string): Promise<void> =>
  (await import('./agent-command.js')).runAgent(flags, process.env, tcp === undefined ? {} : { tcp })
const runConnect = async (url: string, flags: ConnectFlags): Promise<void> => (await import('./connect-command.js')).runConnect(url, flags)
const runDoctor = async (flags: DoctorFlags): Promise<void> => (await import('./doctor-command.js')).runDoctor(flags)
const tunnelsCommand = () => import('./tunnels-command.js')
const runLogin = async (server: string, flags: LoginFlags): Promise<void> => (await import('./login-command.js')).runLogin(server, flags)

/**
 * The command declarations, and nothing else: each command is a typed async
 * function; only bin.ts turns errors into exit codes.
 */
export function buildCli(argv?: readonly string[]): Command {
  // With the run's argv, the settings options (some 60 per command, each with its help text) are made only for
  // the command it names, or all of them for `adit help …`: `adit http 3000` spent ~20 ms (Node 24) making the
  // server's, the agent's and tcp's too. Without argv (tests, the settings tables) every command has all of its options.
  const named = argv?.slice(2).find((word) => !word.startsWith('-'))
  const withOptions = (command: string): boolean => argv === undefined || named === command || named === 'help'
  const program = new Command('adit').description('Self-hosted reverse tunnel for HTTP').version(version).showHelpAfterError()

  const server = program.command('server').description('run the public tunnel server')
  if (withOptions('server')) for (const row of serverSettings) server.addOption(optionFor(row))
  server
    .addOption(commandOption(configOption))
    .addOption(commandOption(printConfigOption))
    .action((_flags: unknown, command: Command) => runServer(typedOnly(command, serverSettings)))

  const agent = program.command('agent').description('connect a local HTTP service to an adit server')
  if (withOptions('agent')) for (const row of agentSettings) agent.addOption(optionFor(row))
  agent
    .addOption(commandOption(noInspectOption))
    .addOption(commandOption(configOption))
    .addOption(commandOption(printConfigOption))
    .action((_flags: unknown, command: Command) => runAgent(typedOnly(command, agentSettings)))

  // `adit http 3000`: the agent with the local service as its argument (ngrok's `ngrok http 3000`).
  const http = program
    .command('http <target>')
    .description(
      'share a local HTTP service: `adit http 3000`, `adit http localhost:8080`, `adit http https://127.0.0.1:8443` (the server and key from `adit login`, or --server/--api-key)',
    )
  if (withOptions('http')) for (const row of agentSettings) if (row.key !== 'local') http.addOption(optionFor(row))
  http
    .addOption(commandOption(noInspectOption))
    .addOption(commandOption(configOption))
    .addOption(commandOption(printConfigOption))
    .action((target: string, _flags: unknown, command: Command) => runAgent({ ...typedOnly(command, agentSettings), local: target }))

  // `adit tcp 5432`: the agent for a local TCP service; visitors use `adit connect` with the token it prints.
  const tcp = program
    .command('tcp <target>')
    .description(
      'share a local TCP service: `adit tcp 5432`, `adit tcp db.internal:5432`; prints the token visitors pass to `adit connect` (the server and key from `adit login`, or --server/--api-key)',
    )
  // The HTTP-only settings (the local origin, routes, Host policy, TLS to the service, its pool) have no meaning here.
  const httpOnly = new Set(['local', 'route', 'hostHeader', 'localInsecure', 'localConnections'])
  // Its default state file is one per target (tcpStateFile), not the agent's.
  const tcpRow = (row: AnySetting): AnySetting => (row.key === 'stateFile' ? { ...row, defaultText: '`~/.config/adit/tcp-<host>-<port>-state.json`' } : row)
  if (withOptions('tcp')) for (const row of agentSettings) if (!httpOnly.has(row.key)) tcp.addOption(optionFor(tcpRow(row)))
  tcp
    .addOption(commandOption(noInspectOption))
    .addOption(commandOption(configOption))
    .addOption(commandOption(printConfigOption))
    .action((target: string, _flags: unknown, command: Command) => runAgent(typedOnly(command, agentSettings), target))

  program
    .command('connect <tunnel-url>')
    .description(
      "reach a TCP tunnel: `adit connect <url> --listen 127.0.0.1:15432` opens a local port for it, `--stdio` carries stdin/stdout (ssh -o ProxyCommand='adit connect <url> --stdio')",
    )
    .addOption(new Option('--listen <host:port>', 'open this local port; each connection to it goes through the tunnel'))
    .addOption(new Option('--stdio', 'carry stdin/stdout through one connection, then exit'))
    .addOption(new Option('--token <token>', 'the visitor token the tunnel’s agent printed').env('ADIT_VISITOR_TOKEN'))
    .addOption(
      new Option('--basic-auth <user:password>', "the credentials of the tunnel's --basic-auth rule, instead of a token").env('ADIT_VISITOR_BASIC_AUTH'),
    )
    .addOption(new Option('--jwt <token>', "a token for the tunnel's --require-jwt rule, instead of a visitor token").env('ADIT_VISITOR_JWT'))
    .action((url: string, flags: ConnectFlags) => runConnect(url, flags))

  program
    .command('login <server>')
    .description(
      `save the server (and its API key) for \`adit http\` and \`adit agent\`: $XDG_CONFIG_HOME/adit/login.json or ~/.config/adit/login.json, mode 0600; ADIT_SERVER / ADIT_API_KEY and flags still win`,
    )
    .addOption(new Option('--api-key <key>', 'the API key the server gave you').env('ADIT_API_KEY'))
    .action((server: string, flags: LoginFlags) => runLogin(server, flags))

  program
    .command('doctor')
    .description('check, step by step, that this machine can run an agent: DNS, TLS, /healthz, /ws upgrade, credentials, clock, local service, round trip')
    .addOption(new Option('--server <url>', 'the adit server (default: the one `adit login` saved)').env('ADIT_SERVER'))
    .addOption(new Option('--local <url>', 'the local service to check (and to route the round trip to)').env('ADIT_LOCAL'))
    .addOption(new Option('--api-key <key>', 'API key for registration, when the server needs one').env('ADIT_API_KEY'))
    .addOption(new Option('--state-file <path>', "the agent's state file (its saved id and secret)").env('ADIT_STATE_FILE'))
    .addOption(new Option('--timeout <duration>', 'per-step time limit (default 5s)'))
    .action((flags: DoctorFlags) => runDoctor(flags))

  const tunnels = program.command('tunnels').description("list, delete or rotate tunnels (this machine's state files; any tunnel with --admin-token)")
  const stateFileOption = (): Option => new Option('--state-file <path>', "the tunnel's state file (default: the agent's)").env('ADIT_STATE_FILE')
  tunnels
    .command('ls')
    .description("this machine's tunnels; with --admin-token also those the server holds agents for")
    .addOption(stateFileOption())
    .addOption(new Option('--server <url>', "the server to ask (default: the first saved tunnel's)").env('ADIT_SERVER'))
    .addOption(new Option('--admin-token <token>', "the operator's ADIT_ADMIN_TOKEN").env('ADIT_ADMIN_TOKEN'))
    .addOption(new Option('--json', 'one JSON object'))
    .action(async (flags: TunnelsFlags) => (await tunnelsCommand()).listTunnels(flags))
  tunnels
    .command('rm [id]')
    .description("revoke a tunnel for good (its URL answers 410): the state file's, or any by id with --admin-token")
    .addOption(stateFileOption())
    .addOption(new Option('--server <url>', 'the server, for an id without a state file here').env('ADIT_SERVER'))
    .addOption(new Option('--admin-token <token>', "the operator's ADIT_ADMIN_TOKEN").env('ADIT_ADMIN_TOKEN'))
    .action(async (id: string | undefined, flags: TunnelsFlags) => (await tunnelsCommand()).removeTunnel(id, flags))
  tunnels
    .command('rotate')
    .description("new secret for the state file's tunnel, written back; a running agent switches to it without a drop")
    .addOption(stateFileOption())
    .addOption(new Option('--json', 'one JSON object'))
    .action(async (flags: TunnelsFlags) => (await tunnelsCommand()).rotateTunnel(flags))

  return program
}
