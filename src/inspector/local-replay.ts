/**
 * A ReplayFunction that sends the request straight to the agent's local
 * service with its own small undici pool. It does not go through the
 * agent's forwarder (which only serves streams opened by the server), so the
 * inspector records the result itself: use it with `replayIsObserved: false`.
 *
 * Like the agent, it only ever talks to the one local origin it was given.
 */
import { createPool } from '../http/undici-parts.js'
import type { ReplayFunction, ReplayRequest, ReplayResult } from './replay.js'

export interface LocalReplayOptions {
  /** The local service's origin, as given to the agent. */
  local: string
  /** Same meaning as the agent's hostHeader: rewrite to the local host, keep the recorded one, or a fixed value. */
  hostHeader: 'rewrite' | 'preserve' | { value: string }
  /** Bytes of the answer kept (the rest is read, counted and dropped); match the log's maxBodyBytes. */
  maxBodyBytes: number
  /** Time the local service has to send its head and each part of its body. */
  timeoutMs: number
}

export const localReplayDefaults: LocalReplayOptions = {
  local: 'http://127.0.0.1:3000',
  hostHeader: 'rewrite',
  maxBodyBytes: 1024 * 1024,
  timeoutMs: 30_000,
}

export interface LocalReplay {
  replay: ReplayFunction
  close(): Promise<void>
}

export function createLocalReplay(input: Partial<LocalReplayOptions> = {}): LocalReplay {
  const options = { ...localReplayDefaults, ...input }
  const origin = new URL(options.local).origin
  const pool = createPool(origin, { connections: 4, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs })

  async function replay(request: ReplayRequest): Promise<ReplayResult> {
    const headers: string[] = []
    for (const [name, value] of request.headers) {
      if (name.toLowerCase() === 'host' && options.hostHeader !== 'preserve') continue
      headers.push(name, value)
    }
    if (typeof options.hostHeader === 'object') headers.push('host', options.hostHeader.value)
    const started = performance.now()
    const response = await pool.request({
      origin,
      path: request.path,
      method: request.method as 'GET',
      headers,
      body: request.body.length > 0 || !['GET', 'HEAD'].includes(request.method) ? request.body : null,
    })
    const kept: Buffer[] = []
    let keptBytes = 0
    let bodyBytes = 0
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      bodyBytes += chunk.length
      if (keptBytes < options.maxBodyBytes) {
        const part = chunk.subarray(0, options.maxBodyBytes - keptBytes)
        kept.push(part)
        keptBytes += part.length
      }
    }
    const responseHeaders: Array<[string, string]> = []
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue
      for (const one of Array.isArray(value) ? value : [value]) responseHeaders.push([name, one])
    }
    return {
      status: response.statusCode,
      headers: responseHeaders,
      body: Buffer.concat(kept, keptBytes),
      bodyBytes,
      durationMs: Math.round(performance.now() - started),
    }
  }

  return { replay, close: () => pool.close() }
}
