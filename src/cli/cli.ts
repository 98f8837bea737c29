import { Command, Option } from 'commander'
import { runAgent, type AgentFlags } from './agent-command.js'
import { runDoctor, type DoctorFlags } from './doctor-command.js'
import { runServer, type ServerFlags } from './server-command.js'
import { listTunnels, removeTunnel, rotateTunnel, type TunnelsFlags } from './tunnels-command.js'
import { agentSettings, serverSettings, type Setting } from './settings.js'

/** A setting's flag, with its env variable in the help (commander reads it; see `typedOnly`). */
function optionFor(setting: Setting): Option {
  const description = `${setting.description}${setting.shownDefault ? ` (default: ${setting.shownDefault})` : ''}`
  const option = new Option(setting.flag, description).env(setting.env[0]!)
  // A repeated flag collects its values; config-file.ts joins them with commas like the env form.
  if (setting.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
  return option
}

/**
 * The values typed on the command line only: environment variables and the
 * config file are applied by config-file.ts, so the one precedence rule
 * (flag > env > file > default) lives in one place. Options outside the
 * settings tables keep commander's value, env included.
 */
function typedOnly(command: Command, settings: readonly Setting[]): Record<string, unknown> {
  const flags: Record<string, unknown> = { ...command.opts() }
  for (const setting of settings) {
    if (command.getOptionValueSource(setting.key) !== 'cli') delete flags[setting.key]
  }
  if (command.getOptionValueSource('config') !== 'cli') delete flags.config
  return flags
}

/**
 * The command declarations, and nothing else: each command is a typed async
 * function; only bin.ts turns errors into exit codes.
 */
export function buildCli(): Command {
  const program = new Command('adit').description('Self-hosted reverse tunnel for HTTP').version('0.1.0').showHelpAfterError()

  const server = program.command('server').description('run the public tunnel server')
  for (const setting of serverSettings) server.addOption(optionFor(setting))
  server
    .addOption(new Option('--config <file>', 'JSON or YAML file of settings (flag > env > file > default)').env('ADIT_CONFIG'))
    .addOption(new Option('--print-config', 'print the effective configuration (secrets redacted) and exit'))
    .action((_flags: ServerFlags, command: Command) => runServer(typedOnly(command, serverSettings) as ServerFlags))

  const agent = program.command('agent').description('connect a local HTTP service to an adit server')
  for (const setting of agentSettings) agent.addOption(optionFor(setting))
  agent
    .addOption(new Option('--no-inspect', 'do not serve the request inspector'))
    .addOption(new Option('--config <file>', 'JSON or YAML file of settings (flag > env > file > default)').env('ADIT_CONFIG'))
    .addOption(new Option('--print-config', 'print the effective configuration (secrets redacted) and exit'))
    .action((_flags: AgentFlags, command: Command) => runAgent(typedOnly(command, agentSettings) as AgentFlags))

  program
    .command('doctor')
    .description('check, step by step, that this machine can run an agent: DNS, TLS, /healthz, /ws upgrade, credentials, clock, local service, round trip')
    .addOption(new Option('--server <url>', 'the adit server').env('ADIT_SERVER').makeOptionMandatory())
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
    .action((flags: TunnelsFlags) => listTunnels(flags))
  tunnels
    .command('rm [id]')
    .description("revoke a tunnel for good (its URL answers 410): the state file's, or any by id with --admin-token")
    .addOption(stateFileOption())
    .addOption(new Option('--server <url>', 'the server, for an id without a state file here').env('ADIT_SERVER'))
    .addOption(new Option('--admin-token <token>', "the operator's ADIT_ADMIN_TOKEN").env('ADIT_ADMIN_TOKEN'))
    .action((id: string | undefined, flags: TunnelsFlags) => removeTunnel(id, flags))
  tunnels
    .command('rotate')
    .description("new secret for the state file's tunnel, written back; a running agent switches to it without a drop")
    .addOption(stateFileOption())
    .addOption(new Option('--json', 'one JSON object'))
    .action((flags: TunnelsFlags) => rotateTunnel(flags))

  return program
}
