import { homedir } from 'node:os'
import { join } from 'node:path'

/** Where adit keeps what it saves: `$XDG_CONFIG_HOME/adit`, else `~/.config/adit`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  return xdg !== undefined && xdg !== '' ? join(xdg, 'adit') : join(homedir(), '.config', 'adit')
}

/** The agent's state file when none is given: `<config dir>/agent-state.json`. */
export function defaultStateFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'agent-state.json')
}
