import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import type { LocalService } from '../harness/local-service.js'
import { startCuttingService } from '../harness/cutting-service.js'
import { tempDir } from '../harness/temp.js'
import { cleanup } from '../harness/security-helpers.js'
import { watchPeerEnding } from '../harness/peer-ending.js'

/** How a public response ended, as the client saw it. */
interface Ending {
  /** 'reset' (ECONNRESET), 'fin' (a clean end), or 'open' at the deadline. */
  ended: 'reset' | 'fin' | 'open'
  head: string
  bodyBytes: number
  /** The raw body ends with the last chunk `0\r\n\r\n` (chunked responses). */
  lastChunk: boolean
}

/** A raw public request; `started` resolves once `minBody` body bytes arrived, `ending` when the connection ends. */
function publicRequest(port: number, text: string, minBody: number, timeoutMs = 10_000): { started: Promise<void>; ending: Promise<Ending> } {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  const chunks: Buffer[] = []
  let ended: Ending['ended'] = 'open'
  let onStarted: () => void = () => {}
  const started = new Promise<void>((resolve) => (onStarted = resolve))
  const ending = new Promise<Ending>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const all = Buffer.concat(chunks)
      const at = all.indexOf('\r\n\r\n')
      if (at >= 0 && all.length - at - 4 >= minBody) onStarted()
    })
    socket.on('error', () => {})
    watchPeerEnding(socket, (how) => (ended = how))
    socket.on('close', () => {
      clearTimeout(timer)
      onStarted()
      const all = Buffer.concat(chunks)
      const at = all.indexOf('\r\n\r\n')
      const body = at >= 0 ? all.subarray(at + 4) : Buffer.alloc(0)
      resolve({
        ended,
        head: at >= 0 ? all.subarray(0, at).toString('latin1') : '',
        bodyBytes: body.length,
        lastChunk: body.toString('latin1').endsWith('0\r\n\r\n'),
      })
    })
    socket.write(text)
  })
  return { started, ending }
}

describe('truncation is signalled: a response cut mid-body never ends with a clean FIN on a short body', () => {
  const jobs = cleanup()
  let server: ServerProcess
  let service: LocalService
  let steady: AgentProcess
  let dir: ReturnType<typeof tempDir>
  /** Sockets of the local service's answers that hang mid-body, so cleanup can end them. */
  const hanging = new Set<import('node:net').Socket>()

  before(async () => {
    service = jobs.add(await startCuttingService(hanging))
    jobs.add({ close: () => hanging.forEach((s) => s.destroy()) })
    server = jobs.add(await startServerProcess())
    dir = jobs.add(tempDir())
    steady = jobs.add(await startAgentProcess(server.url, service.url, { stateFile: dir.file('steady.json') }))
  })
  after(() => jobs.run())

  async function steadyAnswers(): Promise<void> {
    const res = await request(`${steady.publicUrl}echo`)
    await res.body.text()
    assert.equal(res.statusCode, 200, 'another tunnel still answers')
  }

  it('the local service dies mid-body (its connection cut, or reset after a close-delimited answer): close-delimited and content-length answers end in a TCP reset, chunked without its last chunk', async (t) => {
    const base = new URL(steady.publicUrl).pathname
    const cases = {
      // HTTP/1.0 client: the server's answer is close-delimited.
      'close-delimited (HTTP/1.0 client)': publicRequest(server.port, `GET ${base}chunked-dies HTTP/1.0\r\nHost: x\r\n\r\n`, 1000),
      'chunked (HTTP/1.1 client)': publicRequest(server.port, `GET ${base}chunked-dies HTTP/1.1\r\nHost: x\r\n\r\n`, 1000),
      'content-length': publicRequest(server.port, `GET ${base}with-length-dies HTTP/1.1\r\nHost: x\r\n\r\n`, 1000),
      // The service's own answer is close-delimited and its connection is reset: undici alone would call that a complete body.
      'chunked, service close-delimited then reset (HTTP/1.1 client)': publicRequest(
        server.port,
        `GET ${base}close-delimited-resets HTTP/1.1\r\nHost: x\r\n\r\n`,
        1000,
      ),
      'close-delimited, service close-delimited then reset (HTTP/1.0 client)': publicRequest(
        server.port,
        `GET ${base}close-delimited-resets HTTP/1.0\r\nHost: x\r\n\r\n`,
        1000,
      ),
    }
    for (const [name, { ending }] of Object.entries(cases)) {
      const end = await ending
      t.diagnostic(`service died, ${name}: ${end.head.split('\r\n')[0]}, ${end.bodyBytes} body bytes, connection ${end.ended}, last chunk ${end.lastChunk}`)
      assert.match(end.head, /^HTTP\/1\.1 200/, name)
      assert.equal(end.lastChunk, false, `${name}: no last chunk`)
      if (!name.startsWith('chunked')) assert.equal(end.ended, 'reset', `${name}: a TCP reset, not a clean FIN`)
      else assert.match(end.head, /transfer-encoding: chunked/i)
    }
    await steadyAnswers()
  })

  it('the agent process is killed mid-body: the same signals', async (t) => {
    const doomed = await startAgentProcess(server.url, service.url, { stateFile: dir.file('doomed.json') })
    jobs.add(doomed)
    const base = new URL(doomed.publicUrl).pathname
    const cases = {
      'close-delimited (HTTP/1.0 client)': publicRequest(server.port, `GET ${base}close-delimited HTTP/1.0\r\nHost: x\r\n\r\n`, 1000),
      'chunked (HTTP/1.1 client)': publicRequest(server.port, `GET ${base}close-delimited HTTP/1.1\r\nHost: x\r\n\r\n`, 1000),
      'content-length': publicRequest(server.port, `GET ${base}with-length HTTP/1.1\r\nHost: x\r\n\r\n`, 1000),
    }
    await Promise.all(Object.values(cases).map((c) => c.started))
    await doomed.stop('SIGKILL')
    for (const [name, { ending }] of Object.entries(cases)) {
      const end = await ending
      t.diagnostic(`agent killed, ${name}: ${end.head.split('\r\n')[0]}, ${end.bodyBytes} body bytes, connection ${end.ended}, last chunk ${end.lastChunk}`)
      assert.match(end.head, /^HTTP\/1\.1 200/, name)
      assert.ok(end.bodyBytes >= 1000, `${name}: the part sent before arrived`)
      assert.equal(end.lastChunk, false, `${name}: no last chunk`)
      if (!name.startsWith('chunked')) assert.equal(end.ended, 'reset', `${name}: a TCP reset, not a clean FIN`)
    }
    await steadyAnswers()
  })
})
