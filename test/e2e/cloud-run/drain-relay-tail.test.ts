/**
 * The agent's instance (B) drains while it still holds the tail of a response
 * relayed to the instance the public client is on (A), because A's client
 * reads slowly. The agent had sent all of it and closed its drained
 * connection, and B's drain counted only its agents' streams and its own
 * public requests: it closed its relay with the tail unsent and the response
 * was cut (the soak: a 100 MiB download 393 KB short, "other side closed").
 *
 * Deterministic: the public client speaks h2c with a 64 KiB stream window and
 * reads nothing at first, so A stops granting credit to the relay after about
 * one relay window and B keeps the rest of a 700 KiB answer pending
 * (before the fix the client got about 210 KiB of it).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as h2connect } from 'node:http2'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { connect, type Tunnel } from '../../../src/agent/tunnel.js'
import { createMemoryCluster, createMemoryHub } from '../../../src/cluster/memory.js'
import { silentLogger } from '../../../src/observability/logger.js'
import { startServer, type RunningServer } from '../../../src/server/server.js'
import { startLocalService, type LocalService } from '../../harness/local-service.js'

const signingKeys = [randomBytes(32).toString('base64')]
const SIZE = 700 * 1024

describe("a draining agent's instance sends the tail of a relayed response before it leaves", () => {
  const hub = createMemoryHub()
  const closers: Array<() => Promise<unknown>> = []
  let service: LocalService
  let a: RunningServer
  let b: RunningServer
  let tunnel: Tunnel
  before(async () => {
    service = await startLocalService()
    closers.push(() => service.close())
    const member = (name: string): Promise<RunningServer> =>
      startServer({
        host: '127.0.0.1',
        port: 0,
        signingKeys,
        h2c: true,
        cluster: createMemoryCluster({ instanceId: `${name}-${randomBytes(3).toString('hex')}`, hub }),
        logger: silentLogger(),
        drainTimeoutMs: 6_000,
      })
    a = await member('a')
    closers.push(() => a.close())
    b = await member('b')
    closers.push(() => b.close())
    // The agent is on B only; A serves the tunnel through the relay.
    tunnel = await connect({ server: b.url, local: service.url, stateFile: null, logger: silentLogger(), reconnectBaseMs: 50, reconnectMaxMs: 200 })
    closers.push(() => tunnel.close())
  })
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
  })

  it('the whole response reaches a client that reads only after the agent left B', async () => {
    const session = h2connect(a.url, { settings: { initialWindowSize: 64 * 1024 } })
    session.on('error', () => {})
    closers.push(async () => session.destroy())
    const stream = session.request({ ':path': `/pub/${tunnel.id}/bytes/${SIZE}` })
    stream.pause()
    const status = await new Promise<number>((resolve, reject) => {
      stream.once('response', (h) => resolve(Number(h[':status'])))
      stream.once('error', reject)
    })
    assert.equal(status, 200)
    // Let the answer fill what A and B may hold (the agent has sent it all), then drain B, and read
    // only after B's agent connection would have been closed (about 1 s into the drain).
    await delay(500)
    assert.ok(b.relay!.activeStreams > 0, 'B holds a relay stream for A')
    assert.equal(
      b.registry.get(tunnel.id)?.connections.every((c) => c.session.activeStreams === 0),
      true,
      "the agent's stream on B is over",
    )
    const draining = b.close()
    await delay(1_500)
    let got = 0
    const ended = new Promise<string>((resolve) => {
      stream.on('data', (chunk: Buffer) => (got += chunk.length))
      stream.once('end', () => resolve('end'))
      stream.once('close', () => resolve(`closed (rst code ${stream.rstCode})`))
      stream.once('error', (e) => resolve(`error: ${e.message}`))
    })
    stream.resume()
    const how = await ended
    assert.deepEqual({ how, got }, { how: 'end', got: SIZE }, 'every byte arrived and the stream ended cleanly')
    await draining
  })
})
