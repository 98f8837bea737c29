/**
 * The private HTTP service the benchmark talks to, run as its own process so
 * its CPU is not mixed with the load generator's or the harness's.
 *
 *   GET  /1k         1 KiB body
 *   GET  /bytes/<n>  n bytes, streamed in 64 KiB chunks from one preallocated buffer
 *   POST /sink       reads the upload, answers its byte count (also /echo)
 *
 * Prints `{"event":"ready","url":"http://127.0.0.1:<port>"}` when listening.
 * The path may carry a prefix (the tunnel strips `/pub/<id>`; direct calls have none).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

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

server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('unexpected listen address')
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: `http://127.0.0.1:${address.port}` })}\n`)
})

// The harness ends this process by PID; also end with the harness if the IPC channel closes.
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
