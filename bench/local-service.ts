/**
 * The private HTTP service the benchmark talks to, run as its own process so
 * its CPU is not mixed with the load generator's or the harness's.
 *
 *   GET  /1k         1 KiB body
 *   GET  /bytes/<n>  n bytes, streamed in 64 KiB chunks from one preallocated buffer
 *   POST /sink       reads the upload, answers its byte count (also /echo)
 *
 * And a raw TCP service (the TCP tunnel case), on its own port:
 *
 *   `GET <n>\n`     n bytes back, then FIN
 *   `PUT <n>\n`     reads n bytes, answers `ok\n`, then FIN
 *
 * Prints `{"event":"ready","url":"http://127.0.0.1:<port>","tcpPort":<port>}` when both listen.
 * The path may carry a prefix (the tunnel strips `/pub/<id>`; direct calls have none).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'

const CHUNK = 64 * 1024
const chunk = Buffer.alloc(CHUNK, 0x61)
const oneKiB = Buffer.alloc(1024, 0x62)
/** Largest download served, so a typo cannot ask for a terabyte. */
const MAX_BYTES = 8 * 1024 * 1024 * 1024

function streamBytes(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) })
  let left = total
  const pump = (): void => {
    while (left > 0) {
      const size = Math.min(CHUNK, left)
      left -= size
      const ok = res.write(size === CHUNK ? chunk : chunk.subarray(0, size))
      if (!ok && left > 0) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  pump()
}

function sink(req: IncomingMessage, res: ServerResponse): void {
  let bytes = 0
  req.on('data', (data: Buffer) => {
    bytes += data.length
  })
  req.on('end', () => {
    const body = String(bytes)
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) })
    res.end(body)
  })
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' })
  res.end('not found\n')
}

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const url = req.url ?? '/'
  if (req.method === 'GET' && url.endsWith('/1k')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1024' })
    res.end(oneKiB)
    return
  }
  const bytes = /\/bytes\/(\d+)$/.exec(url)
  if (req.method === 'GET' && bytes) {
    const total = Number(bytes[1])
    if (total > MAX_BYTES) return notFound(res)
    return streamBytes(res, total)
  }
  if (req.method === 'POST' && (url.endsWith('/sink') || url.endsWith('/echo'))) return sink(req, res)
  notFound(res)
})

/** A TCP connection of the raw service: one command line, then the bytes. */
function tcpSession(socket: Socket): void {
  socket.on('error', () => {})
  let line = ''
  const onData = (data: Buffer): void => {
    line += data.toString('latin1')
    const newline = line.indexOf('\n')
    if (newline === -1) {
      if (line.length > 64) socket.destroy()
      return
    }
    socket.off('data', onData)
    const match = /^(GET|PUT) (\d+)$/.exec(line.slice(0, newline))
    const total = match ? Number(match[2]) : NaN
    if (!match || total > MAX_BYTES) return void socket.destroy()
    const rest = Buffer.from(line.slice(newline + 1), 'latin1')
    if (match[1] === 'GET') return pumpTcp(socket, total)
    let read = rest.length
    const finish = (): void => void socket.end('ok\n')
    if (read >= total) return finish()
    socket.on('data', (more: Buffer) => {
      read += more.length
      if (read >= total) finish()
    })
  }
  socket.on('data', onData)
}

function pumpTcp(socket: Socket, total: number): void {
  let left = total
  const pump = (): void => {
    while (left > 0) {
      const size = Math.min(CHUNK, left)
      left -= size
      if (!socket.write(size === CHUNK ? chunk : chunk.subarray(0, size)) && left > 0) {
        socket.once('drain', pump)
        return
      }
    }
    socket.end()
  }
  pump()
}

const tcpServer = createTcpServer({ allowHalfOpen: true, noDelay: true }, tcpSession)

server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('unexpected listen address')
  tcpServer.listen(0, '127.0.0.1', () => {
    const tcpPort = (tcpServer.address() as AddressInfo).port
    process.stdout.write(`${JSON.stringify({ event: 'ready', url: `http://127.0.0.1:${address.port}`, tcpPort })}\n`)
  })
})

// The harness ends this process by PID; also end with the harness if the IPC channel closes.
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
