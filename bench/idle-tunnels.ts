/**
 * Child process that opens many idle tunnels against one server: for each,
 * `POST /register`, then a WebSocket to `/ws?id=` with the secret as a bearer
 * token and subprotocol adit.v2. The sockets answer pings (ws does that) and
 * nothing else — enough to measure what an idle tunnel costs the server.
 *
 * IPC: receives {type:'open', server, count, concurrency, timeoutMs}; replies
 * {type:'opened', connected, failed, firstError?}; holds the sockets until the
 * harness closes the IPC channel or ends this process.
 */
import { request } from 'node:http'
import WebSocket from 'ws'

export interface OpenIdleTunnels {
  type: 'open'
  server: string
  count: number
  concurrency: number
  timeoutMs: number
}

export interface IdleTunnelsOpened {
  type: 'opened'
  connected: number
  failed: number
  firstError?: string
}

const sockets: WebSocket[] = []

function register(server: string): Promise<{ id: string; secret: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/register', server), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (text: string) => {
        body += text
      })
      res.on('end', () => {
        if (res.statusCode !== 201 && res.statusCode !== 200) {
          reject(new Error(`register: status ${res.statusCode}: ${body.slice(0, 200)}`))
          return
        }
        try {
          const parsed = JSON.parse(body) as { id?: unknown; secret?: unknown }
          if (typeof parsed.id !== 'string' || typeof parsed.secret !== 'string') throw new Error('no id/secret')
          resolve({ id: parsed.id, secret: parsed.secret })
        } catch (error) {
          reject(new Error(`register: bad answer ${body.slice(0, 200)}`, { cause: error }))
        }
      })
    })
    req.on('error', reject)
    req.end('{}')
  })
}

function connect(server: string, id: string, secret: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const url = new URL('/ws', server)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('id', id)
    const socket = new WebSocket(url, 'adit.v2', { headers: { authorization: `Bearer ${secret}` } })
    socket.once('open', () => {
      socket.removeAllListeners('error')
      // A server-side close later is counted by the harness through the server's RSS, not here.
      socket.on('error', () => undefined)
      resolve(socket)
    })
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => {
      reject(new Error(`ws upgrade: status ${res.statusCode}`))
      socket.terminate()
    })
  })
}

async function open(job: OpenIdleTunnels): Promise<IdleTunnelsOpened> {
  const deadline = Date.now() + job.timeoutMs
  let next = 0
  let connected = 0
  let failed = 0
  let firstError: string | undefined
  const lane = async (): Promise<void> => {
    while (next < job.count && Date.now() < deadline) {
      next++
      try {
        const { id, secret } = await register(job.server)
        sockets.push(await connect(job.server, id, secret))
        connected++
      } catch (error) {
        failed++
        firstError ??= error instanceof Error ? error.message : String(error)
        // Stop early when the server refuses everything (a limit, a wrong contract).
        if (failed >= 20 && connected === 0) return
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.count) }, lane))
  const reply: IdleTunnelsOpened = { type: 'opened', connected, failed }
  if (firstError !== undefined) reply.firstError = firstError
  return reply
}

process.on('message', (message: OpenIdleTunnels) => {
  if (message.type !== 'open') return
  void open(message).then((reply) => process.send?.(reply))
})
process.on('disconnect', () => {
  for (const socket of sockets) socket.terminate()
  process.exit(0)
})
process.send?.({ type: 'ready' })
