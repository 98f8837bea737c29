/**
 * What the agent needs to turn the inspector on: a RequestLog to pass as its
 * `observer`, the inspector server over it, and replay straight to the local
 * service. Kept here so the agent's CLI wiring is a few lines.
 *
 * @example
 * const inspection = await startAgentInspector({ address: '127.0.0.1:4040', local: 'http://127.0.0.1:3000' })
 * const tunnel = await connect({ server, local, observer: inspection.log })
 * inspection.setPublicUrl(tunnel.publicUrl)
 */
import type { ExchangeEnd, ExchangeObserver, ExchangeStart } from '../agent/exchange-observer.js'
import { InspectorError, InspectorErrorCode } from './errors.js'
import { startInspector, type Inspector } from './inspector-server.js'
import { createLocalReplay, type LocalReplayOptions } from './local-replay.js'
import { RequestLog, type RequestLogOptions } from './request-log.js'

export interface AgentInspectorOptions {
  /** `host:port`, `[v6]:port` or just a port; loopback unless told otherwise. */
  address: string
  local: string
  hostHeader?: LocalReplayOptions['hostHeader']
  log?: Partial<RequestLogOptions>
  redactHeaders?: string[]
}

export interface AgentInspector {
  log: RequestLog
  inspector: Inspector
  url: string
  setPublicUrl(url: string): void
  close(): Promise<void>
}

/** Parses `--inspect`'s value: `4040`, `127.0.0.1:4040`, `[::1]:4040`. */
export function parseInspectAddress(value: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:]+\]|[^:\[\]]+):)?(\d{1,5})$/.exec(value.trim())
  const port = match === null ? Number.NaN : Number(match[2])
  if (match === null || port > 65535) {
    throw new InspectorError(InspectorErrorCode.BAD_OPTION, `inspector address must be a port or host:port, got ${JSON.stringify(value)}`)
  }
  const host = match[1] === undefined ? '127.0.0.1' : match[1].replace(/^\[|\]$/g, '')
  return { host, port }
}

export async function startAgentInspector(options: AgentInspectorOptions): Promise<AgentInspector> {
  const { host, port } = parseInspectAddress(options.address)
  const log = new RequestLog(options.log)
  const local = createLocalReplay({ local: options.local, hostHeader: options.hostHeader ?? 'rewrite', maxBodyBytes: log.options.maxBodyBytes })
  let inspector: Inspector
  try {
    inspector = await startInspector({
      host,
      port,
      log,
      replay: local.replay,
      replayIsObserved: false,
      targetUrl: options.local,
      redactHeaders: options.redactHeaders ?? [],
    })
  } catch (error) {
    await local.close()
    throw error
  }
  return {
    log,
    inspector,
    url: inspector.url,
    setPublicUrl: (url) => inspector.setPublicUrl(url),
    async close() {
      await inspector.close()
      await local.close()
    },
  }
}

/**
 * One observer that tells several (the inspector's log and the --json
 * printer, say). The list is fixed at creation, so each callback is a plain
 * loop — no closure per chunk.
 */
export function combineObservers(...candidates: Array<ExchangeObserver | undefined>): ExchangeObserver | undefined {
  const observers = candidates.filter((o): o is ExchangeObserver => o !== undefined)
  if (observers.length <= 1) return observers[0]
  return {
    onRequest(start: ExchangeStart): void {
      for (const o of observers) o.onRequest(start)
    },
    onRequestBody(id: string, chunk: Buffer): void {
      for (const o of observers) o.onRequestBody?.(id, chunk)
    },
    onResponse(id: string, status: number, headers: Array<[string, string]>): void {
      for (const o of observers) o.onResponse?.(id, status, headers)
    },
    onResponseBody(id: string, chunk: Buffer): void {
      for (const o of observers) o.onResponseBody?.(id, chunk)
    },
    onEnd(end: ExchangeEnd): void {
      for (const o of observers) o.onEnd(end)
    },
  }
}
