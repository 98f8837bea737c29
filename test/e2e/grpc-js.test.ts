/**
 * gRPC through the tunnel with the real library on both ends (issue 14):
 * an `@grpc/grpc-js` server as the local service (h2c), an `@grpc/grpc-js`
 * client as the visitor, a real `adit server --h2c` and agent in between.
 * gRPC clients call `/package.Service/Method` at the root, so the tunnel is
 * reached by host routing (`:authority` = `<id>.<suffix>`), as a user's
 * client would reach it under a custom domain. The four call shapes, status
 * codes and metadata both ways, a deadline, a cancellation the service sees,
 * and adit's own failure (no agent) as UNAVAILABLE with a message.
 *
 * Messages are raw bytes (test/harness/grpc-js-echo.ts): the tunnel never
 * looks inside them, so no .proto is needed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'
import { clientFor, seen, startEchoService, unary, type Echo } from '../harness/grpc-js-echo.js'

describe('gRPC with @grpc/grpc-js on both ends, through the tunnel', () => {
  const dir = tempDir()
  let service: { server: grpc.Server; port: number }
  let server: ServerProcess
  let agent: AgentProcess
  let client: Echo

  before(async () => {
    service = await startEchoService()
    server = await startServerProcess({ args: ['--h2c', '--public-host-suffix', 'grpc.test', '--hold-timeout', '1s'] })
    agent = await startAgentProcess(server.url, `h2c://127.0.0.1:${service.port}`, { stateFile: dir.file('state.json') })
    client = clientFor(server.port, `${agent.id}.grpc.test`)
  })
  after(async () => {
    client?.close()
    await agent?.stop()
    await server?.stop()
    await new Promise<void>((resolve) => (service ? service.server.tryShutdown(() => resolve()) : resolve()))
    dir.remove()
  })

  it('unary: the reply, metadata both ways (text and -bin), status OK', async () => {
    const metadata = new grpc.Metadata()
    metadata.set('x-call-meta', 'm1')
    const { error, reply, header, trailer } = await unary(client, 'unary', Buffer.from('hello'), { metadata })
    assert.equal(error, null)
    assert.equal(reply?.toString(), 'HELLO')
    assert.equal(seen.unaryMetadata, 'm1')
    assert.equal(header?.get('x-header-meta')[0], 'h1')
    assert.equal(trailer?.get('x-trailer-meta')[0], 'kept')
    assert.deepEqual(trailer?.get('x-bin-bin')[0], Buffer.from([0, 1, 2, 255]))
  })

  it('an error status from the service: code, message and trailing metadata intact', async () => {
    const { error } = await unary(client, 'fail', Buffer.from('42'))
    assert.equal(error?.code, grpc.status.NOT_FOUND, error?.details)
    assert.equal(error?.details, 'thing 42 is not here (ünïcode too)')
    assert.equal(error?.metadata.get('x-reason')[0], 'no such thing')
  })

  it('server streaming: 300 messages of 32 KiB (9.4 MiB), in order, then OK', async () => {
    const call = (client.serverStream as Function).call(client, Buffer.from('300:32768')) as grpc.ClientReadableStream<Buffer>
    const received: number[] = []
    let bytesIn = 0
    await new Promise<void>((resolve, reject) => {
      call.on('data', (m: Buffer) => {
        received.push(m[0]!)
        bytesIn += m.length
      })
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))))
      call.on('error', reject)
    })
    assert.equal(received.length, 300)
    assert.equal(bytesIn, 300 * 32768)
    assert.deepEqual(received.slice(0, 3), [0, 1, 2])
  })

  it('client streaming: 100 messages in, one answer out', async () => {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const call = (client.clientStream as Function).call(client, (error: grpc.ServiceError | null, r?: Buffer) =>
        error ? reject(error) : resolve(r!),
      ) as grpc.ClientWritableStream<Buffer>
      for (let i = 0; i < 100; i++) call.write(Buffer.alloc(1000 + i, 0x61))
      call.end()
    })
    assert.equal(reply.toString(), `100:${100 * 1000 + (99 * 100) / 2}`)
  })

  it('bidirectional: 25 rounds, each answer before the next request', async () => {
    const call = (client.bidi as Function).call(client) as grpc.ClientDuplexStream<Buffer, Buffer>
    let round = 0
    await new Promise<void>((resolve, reject) => {
      call.on('data', (m: Buffer) => {
        assert.equal(m.toString(), `pong ${round}`)
        round++
        if (round === 25) call.end()
        else call.write(Buffer.from(`ping ${round}`))
      })
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))))
      call.on('error', reject)
      call.write(Buffer.from('ping 0'))
    })
    assert.equal(round, 25)
  })

  it('a deadline: DEADLINE_EXCEEDED at the client, and the service sees the call cancelled', async () => {
    const started = Date.now()
    const { error } = await unary(client, 'slow', Buffer.from('x'), { deadlineMs: 400 })
    assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED)
    assert.ok(Date.now() - started < 5000)
    assert.ok(seen.slowDeadline !== undefined, 'the call reached the service with its deadline')
    const deadline = Date.now() + 5000
    while (!seen.slowCancelled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.ok(seen.slowCancelled, 'the cancellation reached the service')
  })

  it('no agent for the tunnel: UNAVAILABLE with adit’s message, not an HTTP error page', async () => {
    await agent.stop()
    const { error } = await unary(client, 'unary', Buffer.from('hello'), { deadlineMs: 10_000 })
    assert.equal(error?.code, grpc.status.UNAVAILABLE)
    assert.match(error?.details ?? '', /adit|agent|tunnel/i)
    assert.doesNotMatch(error?.details ?? '', /Received HTTP status code/i, 'answered as a gRPC status, not a bare HTTP error')
  })
})
