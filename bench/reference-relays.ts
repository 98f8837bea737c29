/**
 * The two reference relays every tunnel figure is read against, each one
 * process per side like adit's server and agent (`node reference-relays.js <mode> <target>`):
 *
 * - the limit (`limit-server` → `limit-agent` → local): two raw TCP pipe hops.
 *   No HTTP, no framing, no multiplexing — the most any three-hop tunnel can do here.
 * - the floor (`floor-server` ⇄ WebSocket ⇄ `floor-agent` → local): the
 *   smallest framed design — JSON heads, binary body frames tagged with a
 *   stream id, every request over one WebSocket, no flow control, no limits.
 *   What any multiplexed tunnel costs before it does anything adit does.
 *
 * Each prints `{"event":"ready","url":...}` once listening (agents: once connected).
 */
import { createServer, request, Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, createServer as createTcpServer, type Socket } from 'node:net'
import { WebSocket, WebSocketServer, type RawData } from 'ws'

const [mode, target] = process.argv.slice(2) as [string, string]

function ready(url: string): void {
  process.stdout.write(`${JSON.stringify({ event: 'ready', url })}\n`)
}

/** A TCP hop: every accepted connection is piped both ways to a fresh connection to `host:port`. */
function tcpHop(to: URL): void {
  const server = createTcpServer((inbound: Socket) => {
    const outbound = connect(Number(to.port), to.hostname)
    inbound.setNoDelay(true)
    outbound.setNoDelay(true)
    inbound.pipe(outbound).on('error', () => inbound.destroy())
    outbound.pipe(inbound).on('error', () => outbound.destroy())
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
  })
  server.listen(0, '127.0.0.1', () => ready(`http://127.0.0.1:${(server.address() as { port: number }).port}`))
}

/** A binary frame: stream id (u32) then body bytes. */
function dataFrame(id: number, data: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(4 + data.length)
  frame.writeUInt32BE(id, 0)
  data.copy(frame, 4)
  return frame
}

function onFrame(message: RawData, isBinary: boolean, onHead: (head: Record<string, unknown>) => void, onData: (id: number, data: Buffer) => void): void {
  const buffer = message as Buffer
  if (isBinary) onData(buffer.readUInt32BE(0), buffer.subarray(4))
  else onHead(JSON.parse(buffer.toString()) as Record<string, unknown>)
}

function headersOut(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { connection: _c, 'keep-alive': _k, ...rest } = headers
  return rest
}

/** The floor's public side: HTTP in, one WebSocket to the agent. */
function floorServer(): void {
  let agent: WebSocket | undefined
  let nextId = 1
  const open = new Map<number, ServerResponse>()
  const server = createServer({ keepAliveTimeout: 30_000 }, (req: IncomingMessage, res: ServerResponse) => {
    if (agent === undefined) return void res.writeHead(502).end()
    const ws = agent
    const id = nextId++
    open.set(id, res)
    ws.send(JSON.stringify({ t: 'req', id, method: req.method, url: req.url, headers: headersOut(req.headers) }))
    req.on('data', (data: Buffer) => ws.send(dataFrame(id, data)))
    req.on('end', () => ws.send(JSON.stringify({ t: 'end', id })))
  })
  new WebSocketServer({ server, perMessageDeflate: false }).on('connection', (ws) => {
    agent = ws
    ws.on('message', (message, isBinary) =>
      onFrame(
        message,
        isBinary,
        (head) => {
          const res = open.get(head.id as number)
          if (res === undefined) return
          if (head.t === 'res') res.writeHead(head.status as number, head.headers as IncomingHttpHeaders)
          else if (head.t === 'end') {
            open.delete(head.id as number)
            res.end()
          }
        },
        (id, data) => open.get(id)?.write(data),
      ),
    )
  })
  server.listen(0, '127.0.0.1', () => ready(`http://127.0.0.1:${(server.address() as { port: number }).port}`))
}

/** The floor's private side: one WebSocket out, HTTP to the local service. */
function floorAgent(serverUrl: string, local: URL): void {
  const pool = new Agent({ keepAlive: true, maxSockets: 256 })
  const requests = new Map<number, ReturnType<typeof request>>()
  const ws = new WebSocket(`${serverUrl.replace(/^http/, 'ws')}/ws`, { perMessageDeflate: false })
  ws.on('open', () => ready(serverUrl))
  ws.on('message', (message, isBinary) =>
    onFrame(
      message,
      isBinary,
      (head) => {
        const id = head.id as number
        if (head.t === 'end') {
          requests.get(id)?.end()
          requests.delete(id)
          return
        }
        const headers = head.headers as IncomingHttpHeaders
        const req = request(
          { host: local.hostname, port: local.port, method: head.method as string, path: head.url as string, headers, agent: pool },
          (res) => {
            ws.send(JSON.stringify({ t: 'res', id, status: res.statusCode, headers: headersOut(res.headers) }))
            res.on('data', (data: Buffer) => ws.send(dataFrame(id, data)))
            res.on('end', () => ws.send(JSON.stringify({ t: 'end', id })))
          },
        )
        req.on('error', () => ws.send(JSON.stringify({ t: 'end', id })))
        requests.set(id, req)
      },
      (id, data) => requests.get(id)?.write(data),
    ),
  )
  ws.on('close', () => process.exit(1))
}

switch (mode) {
  case 'limit-server':
  case 'limit-agent':
    tcpHop(new URL(target))
    break
  case 'floor-server':
    floorServer()
    break
  case 'floor-agent': {
    const [serverUrl, localUrl] = target.split(' ') as [string, string]
    floorAgent(serverUrl, new URL(localUrl))
    break
  }
  default:
    process.stderr.write(`unknown mode ${mode}\n`)
    process.exit(2)
}
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
