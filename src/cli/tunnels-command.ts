/**
 * `adit tunnels ls | rm | rotate`: the tunnel lifecycle without curl. The
 * tunnels this machine owns are its state files (in the config folder, or
 * `--state-file`); with the operator's admin token, `ls` also lists what the
 * server holds and `rm` deletes any tunnel by id.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { configDir, defaultStateFile } from '../agent/config-dir.js'
import { readState, saveState, type AgentState } from '../agent/state-file.js'
import { deleteTunnel, listServerTunnels, rotateSecret } from '../agent/tunnel-admin-client.js'
import { AditError, ConfigError, ErrorCode } from '../errors.js'

export interface TunnelsFlags {
  stateFile?: string
  server?: string
  adminToken?: string
  json?: boolean
}

type Out = (text: string) => void
const stdout: Out = (text) => void process.stdout.write(text)

/** The state files in the config folder (and `--state-file`), read. */
async function localTunnels(flags: TunnelsFlags, env: NodeJS.ProcessEnv): Promise<Array<{ file: string; state: AgentState }>> {
  const files = new Set<string>()
  if (flags.stateFile !== undefined) files.add(flags.stateFile)
  const dir = configDir(env)
  try {
    for (const name of (await readdir(dir)).sort()) if (name.endsWith('.json')) files.add(join(dir, name))
  } catch {
    // no config folder yet: no local tunnels
  }
  const found: Array<{ file: string; state: AgentState }> = []
  for (const file of files) {
    const state = await readState(file).catch(() => null)
    if (state !== null) found.push({ file, state })
  }
  return found
}

async function stateAt(flags: TunnelsFlags, env: NodeJS.ProcessEnv): Promise<{ file: string; state: AgentState }> {
  const file = flags.stateFile ?? defaultStateFile(env)
  const state = await readState(file)
  if (state === null) throw new ConfigError(`no tunnel in ${file}: start one with \`adit http <port>\`, or point --state-file at its state file`)
  return { file, state }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}

/** `adit tunnels ls`: this machine's tunnels; with --admin-token, also those the server holds agents for. */
export async function listTunnels(flags: TunnelsFlags, env: NodeJS.ProcessEnv = process.env, out: Out = stdout): Promise<void> {
  const local = await localTunnels(flags, env)
  const server = flags.server ?? local[0]?.state.server
  const remote =
    flags.adminToken !== undefined && flags.adminToken !== '' && server !== undefined ? await listServerTunnels(server, flags.adminToken) : undefined
  if (flags.json === true) {
    out(
      `${JSON.stringify({ local: local.map((t) => ({ id: t.state.id, public_url: t.state.public_url, server: t.state.server, state_file: t.file })), ...(remote ? { server: remote } : {}) })}\n`,
    )
    return
  }
  if (local.length === 0) out(`no tunnels saved in ${configDir(env)}\n`)
  else out(table([['ID', 'PUBLIC URL', 'SERVER', 'STATE FILE'], ...local.map((t) => [t.state.id, t.state.public_url, t.state.server, t.file])]))
  if (remote !== undefined) {
    out(`\non ${server} (tunnels with an agent connected to this instance):\n`)
    out(
      remote.length === 0
        ? 'none\n'
        : table([
            ['ID', 'CONNECTIONS', 'IN FLIGHT', 'REQUESTS'],
            ...remote.map((t) => [t.id, String(t.connections), String(t.activeStreams), String(t.total)]),
          ]),
    )
  }
}

/**
 * `adit tunnels rm [id]`: revokes the tunnel for good (its agent stops, its
 * URL answers 410). Without an id: the tunnel of the state file, whose file
 * is then removed. With an id: a local tunnel of that id, else any tunnel
 * with --admin-token.
 */
export async function removeTunnel(id: string | undefined, flags: TunnelsFlags, env: NodeJS.ProcessEnv = process.env, out: Out = stdout): Promise<void> {
  let target: { file: string; state: AgentState } | undefined
  if (id === undefined) target = await stateAt(flags, env)
  else target = (await localTunnels(flags, env)).find((t) => t.state.id === id)
  if (target !== undefined) {
    await deleteTunnel(target.state.server, target.state.id, target.state.secret)
    await rm(target.file, { force: true })
    out(`deleted tunnel ${target.state.id} (${target.state.public_url}); removed ${target.file}\n`)
    return
  }
  if (flags.adminToken === undefined || flags.adminToken === '' || flags.server === undefined)
    throw new AditError(
      ErrorCode.UNAUTHORIZED,
      401,
      `tunnel ${id} has no state file here: pass --server and --admin-token (ADIT_ADMIN_TOKEN) to delete it as the operator`,
    )
  await deleteTunnel(flags.server, id!, flags.adminToken)
  out(`deleted tunnel ${id} on ${flags.server}\n`)
}

/**
 * `adit tunnels rotate`: a new secret for the tunnel of the state file,
 * written back to it. A running agent watches that file and moves its
 * connections to the new secret, make before break, while the server still
 * accepts the old one (its --rotation-grace): no request is dropped.
 */
export async function rotateTunnel(flags: TunnelsFlags, env: NodeJS.ProcessEnv = process.env, out: Out = stdout): Promise<void> {
  const { file, state } = await stateAt(flags, env)
  const rotated = await rotateSecret(state)
  await saveState(file, { ...state, secret: rotated.secret })
  if (flags.json === true) {
    out(`${JSON.stringify({ id: state.id, generation: rotated.generation, previous_valid_until: rotated.previousValidUntil, state_file: file })}\n`)
    return
  }
  out(
    `rotated tunnel ${state.id}: new secret (generation ${rotated.generation}) saved to ${file}; a running agent switches to it by itself; the old secret works until ${rotated.previousValidUntil}\n`,
  )
}
