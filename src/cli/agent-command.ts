import { homedir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { connect, type Tunnel } from '../agent/tunnel.js'
import { parseHostHeader, type AgentOptions } from '../agent/config.js'
import type { ExchangeObserver } from '../agent/exchange-observer.js'
import { combineObservers, startAgentInspector, type AgentInspector } from '../inspector/agent-inspector.js'
import { createLogger } from '../observability/logger.js'
import { parseDuration, parseInteger } from './parse.js'

export interface AgentFlags {
  server?: string
  local?: string
  stateFile?: string
  apiKey?: string
  connections?: string
  name?: string
  maxConnectionAge?: string
  hostHeader?: string
  localInsecure?: boolean
  json?: boolean
  /** --inspect alone is true (127.0.0.1:4040); with a value it is the address. */
  inspect?: boolean | string
  logLevel?: string
}

export function agentOptionsFromFlags(flags: AgentFlags): Partial<AgentOptions> & Pick<AgentOptions, 'server' | 'local'> {
  return {
    server: flags.server ?? 'http://127.0.0.1:8080',
    local: flags.local ?? 'http://127.0.0.1:3000',
    stateFile: flags.stateFile === 'none' ? null : (flags.stateFile ?? join(homedir(), '.config', 'adit', 'agent-state.json')),
    apiKey: flags.apiKey,
    ...(flags.connections !== undefined ? { connections: parseInteger('--connections / ADIT_CONNECTIONS', flags.connections) } : {}),
    ...(flags.hostHeader !== undefined ? { hostHeader: parseHostHeader(flags.hostHeader) } : {}),
    localInsecure: flags.localInsecure === true,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.maxConnectionAge !== undefined ? { maxConnectionAgeMs: parseDuration('--max-connection-age / ADIT_MAX_CONNECTION_AGE', flags.maxConnectionAge) } : {}),
  }
}

/** One line per event on stdout, for scripts: `ready`, then one per finished request. */
function jsonPrinter(write: (line: string) => void): ExchangeObserver {
  const starts = new Map<string, { method: string; path: string }>()
  return {
    onRequest(start) {
      starts.set(start.id, { method: start.method, path: start.path })
    },
    onEnd(end) {
      const start = starts.get(end.id)
      starts.delete(end.id)
      write(
        JSON.stringify({
          event: 'request',
          method: start?.method,
          path: start?.path,
          status: end.status,
          bytes: end.responseBytes,
          request_bytes: end.requestBytes,
          ms: end.durationMs,
          ...(end.error ? { error: end.error } : {}),
        }),
      )
    },
  }
}

/** `adit agent`: connects, prints the public URL, runs until SIGTERM/SIGINT. */
export async function runAgent(flags: AgentFlags): Promise<void> {
  // Logs go to stderr so stdout carries only what the user asked for.
  const logger = createLogger({ name: 'adit-agent', level: flags.logLevel ?? 'info', destination: pino.destination({ dest: 2, sync: false }) })
  const write = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }
  const options = agentOptionsFromFlags(flags)
  const inspection: AgentInspector | undefined =
    flags.inspect === undefined || flags.inspect === false
      ? undefined
      : await startAgentInspector({ address: flags.inspect === true ? '127.0.0.1:4040' : flags.inspect, local: options.local, ...(options.hostHeader ? { hostHeader: options.hostHeader } : {}) })
  const observer = combineObservers(flags.json ? jsonPrinter(write) : undefined, inspection?.log)
  let tunnel: Tunnel
  try {
    tunnel = await connect({ ...options, logger, ...(observer ? { observer } : {}) })
  } catch (error) {
    await inspection?.close()
    throw error
  }
  inspection?.setPublicUrl(tunnel.publicUrl)
  if (flags.json) {
    write(JSON.stringify({ event: 'ready', id: tunnel.id, public_url: tunnel.publicUrl, ...(inspection ? { inspector_url: inspection.url } : {}) }))
  } else {
    write(`adit: forwarding ${tunnel.publicUrl} → ${options.local}`)
    if (inspection) write(`adit: inspector on ${inspection.url}`)
    tunnel.on('request', (r) => write(`${r.method} ${r.path} → ${r.status || 'error'} ${r.responseBytes} B ${r.durationMs} ms${r.error ? ` (${r.error})` : ''}`))
  }
  tunnel.on('reregistered', (state) => {
    inspection?.setPublicUrl(state.public_url)
    if (flags.json) write(JSON.stringify({ event: 'ready', id: state.id, public_url: state.public_url, reregistered: true }))
    else write(`adit: the server issued a new tunnel; now forwarding ${state.public_url} → ${options.local}`)
  })
  await new Promise<void>((resolve, reject) => {
    tunnel.on('error', reject)
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  await tunnel.close()
  await inspection?.close()
  logger.flush()
}
