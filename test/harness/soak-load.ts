/**
 * The soak's workload: bounded loops of small requests, SSE streams,
 * WebSocket echo sessions, large downloads and uploads through a tunnel,
 * every body checked (hash, order, echo), every outcome recorded with its
 * start and end so failures can be laid against the events of the soak.
 */
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { patternHash, startLocalService, type LocalService } from './local-service.js'

export type Kind = 'small' | 'sse' | 'websocket' | 'download' | 'upload'

export interface Outcome {
  kind: Kind
  start: number
  end: number
  ok: boolean
  /** Set when a body arrived wrong or short (never acceptable), not merely failed. */
  corrupt?: boolean
  error?: string
}

/** Same bytes as the local service's /bytes/N. */
const BLOCK = Buffer.alloc(64 * 1024)
for (let i = 0; i < BLOCK.length; i++) BLOCK[i] = (i * 31 + 7) & 0xff

function* patternChunks(size: number): Generator<Buffer> {
  for (let left = size; left > 0; left -= BLOCK.length) yield BLOCK.subarray(0, Math.min(left, BLOCK.length))
}

/** The local service of the soak: the usual one, plus `/sse?n=N` (N numbered events, 50 ms apart) and a WebSocket echo on any upgrade. */
export async function startSoakService(): Promise<LocalService> {
  const service = await startLocalService((req, res) => {
    const sse = /^\/sse\?n=(\d+)/.exec(req.url ?? '')
    if (!sse) return false
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    const n = Number(sse[1])
    let i = 0
    const timer = setInterval(() => {
      res.write(`id: ${i}\ndata: event ${i}\n\n`)
      if (++i === n) {
        clearInterval(timer)
        res.end()
      }
    }, 50)
    res.on('close', () => clearInterval(timer))
    return true
  })
  const wss = new WebSocketServer({ server: service.server })
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })))
  const close = service.close
  return Object.assign(service, {
    close: async () => {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      await close()
    },
  })
}

export interface SoakLoadOptions {
  /** The tunnel's public URL, ending in `/`. */
  publicUrl: string
  smallWorkers: number
  downloadBytes: number
  uploadBytes: number
  /** Hard end of every loop (epoch ms). */
  deadline: number
}

/** Starts every loop; `stop()` ends them after their current exchange and resolves with every outcome. */
export function startSoakLoad(options: SoakLoadOptions): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = []
  let stopped = false
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: options.smallWorkers + 4, headersTimeout: 60_000, bodyTimeout: 60_000 })
  const downloadHash = patternHash(options.downloadBytes)
  const uploadHash = patternHash(options.uploadBytes)
  const smallHash = patternHash(1024)
  const running = (): boolean => !stopped && Date.now() < options.deadline
  // Ends whatever is still open 20 s after stop(): an exchange that hangs is a failure, not a longer soak.
  const hard = new AbortController()
  const signal = hard.signal

  const loop = async (kind: Kind, once: () => Promise<void>): Promise<void> => {
    while (running()) {
      const start = Date.now()
      try {
        await once()
        outcomes.push({ kind, start, end: Date.now(), ok: true })
      } catch (error) {
        const e = error as Error & { corrupt?: boolean }
        outcomes.push({ kind, start, end: Date.now(), ok: false, ...(e.corrupt ? { corrupt: true } : {}), error: e.message.slice(0, 400) })
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  const corrupt = (message: string): Error => Object.assign(new Error(message), { corrupt: true })
  const fetchHashed = async (path: string, expected: string, init: Parameters<typeof request>[1] = {}): Promise<void> => {
    const res = await request(`${options.publicUrl}${path}`, { dispatcher, signal, ...init })
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '')
      throw new Error(`${res.statusCode} ${text.trim().slice(0, 120)}`)
    }
    const hash = createHash('sha256')
    for await (const chunk of res.body) hash.update(chunk as Buffer)
    if (hash.digest('hex') !== expected) throw corrupt(`${path}: body hash differs`)
  }

  const small = () => fetchHashed('bytes/1024', smallHash)
  const download = () => fetchHashed(`bytes/${options.downloadBytes}`, downloadHash)
  const upload = async (): Promise<void> => {
    const res = await request(`${options.publicUrl}echo/upload`, {
      dispatcher,
      signal,
      method: 'POST',
      headers: { 'content-length': String(options.uploadBytes), 'content-type': 'application/octet-stream' },
      body: Readable.from(patternChunks(options.uploadBytes)),
    })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${text.trim().slice(0, 120)}`)
    const echo = JSON.parse(text) as { sha256: string; length: number }
    if (echo.length !== options.uploadBytes || echo.sha256 !== uploadHash)
      throw corrupt(`upload arrived as ${echo.length} bytes, hash ${echo.sha256 === uploadHash ? 'same' : 'differs'}`)
  }
  const sse = async (): Promise<void> => {
    const n = 20
    const res = await request(`${options.publicUrl}sse?n=${n}`, { dispatcher, signal })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${text.trim().slice(0, 120)}`)
    const expected = Array.from({ length: n }, (_, i) => `id: ${i}\ndata: event ${i}\n\n`).join('')
    if (text !== expected) throw corrupt(`SSE stream arrived as ${text.length} of ${expected.length} characters`)
  }
  const websocket = async (): Promise<void> => {
    const ws = new WebSocket(`${options.publicUrl.replace(/^http/, 'ws')}ws-echo`)
    const abort = (): void => ws.terminate()
    signal.addEventListener('abort', abort)
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
        ws.once('unexpected-response', (_q, r) => reject(new Error(`upgrade refused with ${r.statusCode}`)))
      })
      // One close listener for the whole session: a close between two messages (the 50 ms pause) is
      // reported as the close it is, at once, not as a missing echo 10 s later.
      let closed: Error | undefined
      let onClose: ((e: Error) => void) | undefined
      ws.once('close', (code) => {
        closed = new Error(`closed (${code}) mid-session`)
        onClose?.(closed)
      })
      for (let i = 0; i < 20; i++) {
        if (closed !== undefined) throw closed
        const sent = randomBytes(1 + Math.floor(Math.random() * 8192))
        const back = await new Promise<Buffer>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000)
          onClose = (e) => (clearTimeout(timer), reject(e))
          ws.once('message', (data: Buffer) => (clearTimeout(timer), resolve(data)))
          ws.send(sent)
        })
        onClose = undefined
        if (!back.equals(sent)) throw corrupt('echo differs')
        await new Promise((r) => setTimeout(r, 50))
      }
    } finally {
      signal.removeEventListener('abort', abort)
      ws.terminate()
    }
  }

  const loops = [
    ...Array.from({ length: options.smallWorkers }, () => loop('small', small)),
    loop('sse', sse),
    loop('websocket', websocket),
    loop('download', download),
    loop('upload', upload),
  ]
  const all = Promise.all(loops)
  return {
    outcomes,
    stop: async () => {
      stopped = true
      const timer = setTimeout(() => {
        // Where the hung exchanges wait: the client's pool (queued/pending: never written) or the server (running).
        const stats = JSON.stringify((dispatcher as unknown as { stats: Record<string, unknown> }).stats)
        hard.abort(new Error(`still open 20 s after the load stopped (client pool ${stats})`))
      }, 20_000)
      await all
      clearTimeout(timer)
      await dispatcher.close().catch(() => {})
      return outcomes
    },
  }
}
