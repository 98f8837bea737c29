import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildCli } from '../../../src/cli/cli.js'

test("adit tcp --help names the state file adit tcp uses by default (one per target, tcpStateFile), not the agent's", () => {
  const tcp = buildCli().commands.find((c) => c.name() === 'tcp')
  assert.ok(tcp !== undefined)
  const help = tcp.helpInformation().replace(/\s+/g, ' ')
  assert.match(help, /--state-file <path> .*\(default: ~\/\.config\/adit\/tcp-<host>-<port>-state\.json/)
  assert.doesNotMatch(help, /agent-state\.json/)
  // The agent's own help is unchanged.
  const agent = buildCli().commands.find((c) => c.name() === 'agent')!
  assert.match(agent.helpInformation().replace(/\s+/g, ' '), /\(default: ~\/\.config\/adit\/agent-state\.json\)/)
})
