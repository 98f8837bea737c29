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
import type { ReplayFunction } from './replay.js'
import { RequestLog, type RequestLogOptions } from './request-log.js'

export interface AgentInspectorOptions {
  /** `host:port`, `[v6]:port` or just a port; loopback unless told otherwise. */
  address: string
  local: string
  hostHeader?: LocalReplayOptions['hostHeader']
  log?: Partial<RequestLogOptions>
  redactHeaders?: string[]
  /**
   * Ports tried from the given one upward when it is taken (4040, 4041, …):
   * 1 tries only the given port. Port 0 is tried once.
   */
  portAttempts?: number
  /** Sends a replay through the agent's forwarder (observed like any request); without it, replay goes straight to `local`. */
  replay?: ReplayFunction
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
  const attempts = port === 0 ? 1 : Math.max(1, Math.min(options.portAttempts ?? 1, 65536 - port))
  const log = new RequestLog(options.log)
  const local =
    options.replay === undefined
      ? createLocalReplay({ local: options.local, hostHeader: options.hostHeader ?? 'rewrite', maxBodyBytes: log.options.maxBodyBytes })
      : undefined
  let inspector: Inspector | undefined
  for (let i = 0; inspector === undefined; i++) {
    try {
      inspector = await startInspector({
        host,
        port: port + i,
        log,
        replay: options.replay ?? local?.replay,
        replayIsObserved: options.replay !== undefined,
        targetUrl: options.local,
        redactHeaders: options.redactHeaders ?? [],
      })
    } catch (error) {
      // A taken port moves on to the next one; anything else (bad host, no permission) stops here.
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && i + 1 < attempts) continue
      await local?.close()
      throw error
    }
  }
  const started = inspector
  return {
    log,
    inspector: started,
    url: started.url,
    setPublicUrl: (url) => started.setPublicUrl(url),
    async close() {
      await started.close()
      await local?.close()
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
