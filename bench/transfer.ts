/**
 * One large download or upload from the harness process, timed end to end
 * (request sent → last byte received / upload acknowledged). Bodies come from
 * and go to preallocated buffers, so the client side costs little and memory
 * stays flat. Each transfer is bounded by a timeout; a transfer that runs out
 * of time reports the bytes it moved and `complete: false`.
 */
import { request } from 'node:http'
import { connect as connectTcp } from 'node:net'

const CHUNK = 64 * 1024
const uploadChunk = Buffer.alloc(CHUNK, 0x63)

export interface TransferResult {
  bytes: number
  seconds: number
  mibPerSec: number
  complete: boolean
  /** Why it is incomplete: a status, an error code, or 'timeout'. */
  problem?: string
}

function finishResult(bytes: number, started: number, complete: boolean, problem?: string): TransferResult {
  const seconds = (performance.now() - started) / 1000
  const result: TransferResult = { bytes, seconds, mibPerSec: bytes / (1024 * 1024) / seconds, complete }
  if (problem !== undefined) result.problem = problem
  return result
}

/** GETs `url` and discards the body; `complete` when exactly `expectedBytes` arrived. */
export function download(url: string, expectedBytes: number, timeoutMs: number): Promise<TransferResult> {
  return new Promise((resolve) => {
    const started = performance.now()
    let bytes = 0
    let settled = false
    const settle = (complete: boolean, problem?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(finishResult(bytes, started, complete, problem))
    }
    const req = request(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        settle(false, `status ${res.statusCode}`)
        return
      }
      res.on('data', (data: Buffer) => {
        bytes += data.length
      })
      res.on('end', () => settle(bytes === expectedBytes, bytes === expectedBytes ? undefined : 'short body'))
      res.on('error', (error: NodeJS.ErrnoException) => settle(false, error.code ?? 'response error'))
    })
    const timer = setTimeout(() => {
      settle(false, 'timeout')
      req.destroy()
    }, timeoutMs)
    req.on('error', (error: NodeJS.ErrnoException) => settle(false, error.code ?? 'request error'))
    req.end()
  })
}

/** POSTs `totalBytes` to `url` (a sink that answers the count it read); `complete` when the count matches. */
export function upload(url: string, totalBytes: number, timeoutMs: number): Promise<TransferResult> {
  return new Promise((resolve) => {
    const started = performance.now()
    let sent = 0
    let settled = false
    const settle = (complete: boolean, problem?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(finishResult(sent, started, complete, problem))
    }
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(totalBytes) },
      },
      (res) => {
        let answer = ''
        res.setEncoding('utf8')
        res.on('data', (text: string) => {
          if (answer.length < 64) answer += text
        })
        res.on('end', () => {
          if (res.statusCode !== 200) settle(false, `status ${res.statusCode}`)
          else if (Number(answer) !== totalBytes) settle(false, `sink read ${answer} bytes`)
          else settle(true)
        })
        res.on('error', (error: NodeJS.ErrnoException) => settle(false, error.code ?? 'response error'))
      },
    )
    const timer = setTimeout(() => {
      settle(false, 'timeout')
      req.destroy()
    }, timeoutMs)
    req.on('error', (error: NodeJS.ErrnoException) => settle(false, error.code ?? 'request error'))
    const pump = (): void => {
      while (sent < totalBytes && !settled) {
        const size = Math.min(CHUNK, totalBytes - sent)
        sent += size
        if (!req.write(size === CHUNK ? uploadChunk : uploadChunk.subarray(0, size))) {
          req.once('drain', pump)
          return
        }
      }
      if (!settled) req.end()
    }
    pump()
  })
}

/**
 * The same over a raw TCP connection to the TCP service of bench/local-service.ts
 * (directly, through the TCP limit relay, or through `adit connect`): `GET <n>`
 * reads n bytes until the FIN, `PUT <n>` sends n bytes and waits for `ok`.
 */
export function tcpTransfer(port: number, direction: 'download' | 'upload', totalBytes: number, timeoutMs: number): Promise<TransferResult> {
  return new Promise((resolve) => {
    const started = performance.now()
    let bytes = 0
    let settled = false
    let answer = ''
    const socket = connectTcp({ host: '127.0.0.1', port, noDelay: true })
    const settle = (complete: boolean, problem?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(finishResult(bytes, started, complete, problem))
    }
    const timer = setTimeout(() => settle(false, 'timeout'), timeoutMs)
    socket.on('error', (error: NodeJS.ErrnoException) => settle(false, error.code ?? 'socket error'))
    socket.on('connect', () => {
      socket.write(`${direction === 'download' ? 'GET' : 'PUT'} ${totalBytes}\n`)
      if (direction === 'upload') pumpUpload()
    })
    const pumpUpload = (): void => {
      while (bytes < totalBytes) {
        const n = Math.min(CHUNK, totalBytes - bytes)
        bytes += n
        if (!socket.write(n === CHUNK ? uploadChunk : uploadChunk.subarray(0, n)) && bytes < totalBytes) {
          socket.once('drain', pumpUpload)
          return
        }
      }
    }
    socket.on('data', (data: Buffer) => {
      if (direction === 'download') bytes += data.length
      else answer += data.toString()
    })
    socket.on('end', () => {
      if (direction === 'download') settle(bytes === totalBytes, bytes === totalBytes ? undefined : 'short')
      else settle(answer === 'ok\n', answer === 'ok\n' ? undefined : `answer ${JSON.stringify(answer)}`)
    })
  })
}
