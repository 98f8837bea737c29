import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { memoryOf, sampleRss, type AgentProcess, type ServerProcess } from '../harness/processes.js'
import { patternHash } from '../harness/local-service.js'
import { readWithStall } from '../harness/stalled-read.js'
import { startTunnel, type TunnelFixture } from '../harness/tunnel.js'

const MiB = 1024 * 1024
/** Neither process grows by more than this while 100 MiB of uploads stream through it (uploads leave little garbage: < 1 MiB measured on Node 20 and 24). */
const RSS_GROWTH_BOUND = 64 * MiB
/** What a stalled download may add to a process: its windows and socket buffers, a few MiB; buffering would add the ~99 MiB left. */
const STALL_GROWTH_BOUND = 16 * MiB

function patternStream(size: number): Readable {
  const chunk = Buffer.alloc(64 * 1024)
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff
  let left = size
  return new Readable({
    read() {
      if (left === 0) return this.push(null)
      const n = Math.min(left, chunk.length)
      left -= n
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n))
    },
  })
}

describe('bodies of every size, streamed both ways with memory bounded', () => {
  let fixture: TunnelFixture
  let server: ServerProcess
  let agent: AgentProcess

  before(async () => {
    fixture = await startTunnel()
    ;({ server, agent } = fixture)
  })
  after(() => fixture?.stop())

  /** Runs `transfer` while sampling both processes' RSS; returns the growth of each over its start. */
  async function withRss(transfer: () => Promise<void>): Promise<{ seconds: number; serverGrowth: number; agentGrowth: number }> {
    const serverBase = memoryOf(server.pid)
    const agentBase = memoryOf(agent.pid)
    const serverPeak = sampleRss(server.pid)
    const agentPeak = sampleRss(agent.pid)
    const started = performance.now()
    try {
      await transfer()
    } finally {
      serverPeak.stop()
      agentPeak.stop()
    }
    return { seconds: (performance.now() - started) / 1000, serverGrowth: serverPeak.stop() - serverBase, agentGrowth: agentPeak.stop() - agentBase }
  }

  function assertBounded(growth: { serverGrowth: number; agentGrowth: number }): void {
    assert.ok(growth.serverGrowth < RSS_GROWTH_BOUND, `server grew ${growth.serverGrowth} bytes`)
    assert.ok(growth.agentGrowth < RSS_GROWTH_BOUND, `agent grew ${growth.agentGrowth} bytes`)
  }

  for (const size of [0, 1024]) {
    it(`downloads and uploads ${size} B intact`, async () => {
      const down = await request(`${agent.publicUrl}bytes/${size}`)
      const body = Buffer.from(await down.body.arrayBuffer())
      assert.equal(body.length, size)
      assert.equal(createHash('sha256').update(body).digest('hex'), patternHash(size))
      const up = await request(`${agent.publicUrl}echo`, { method: 'POST', body: patternStream(size), headers: { 'content-length': String(size) } })
      const echo = (await up.body.json()) as { length: number; sha256: string }
      assert.equal(echo.length, size)
      assert.equal(echo.sha256, patternHash(size))
    })
  }

  it('downloads 100 MiB intact at full speed (RSS growth reported, garbage included)', async (t) => {
    const size = 100 * MiB
    const hash = createHash('sha256')
    let length = 0
    const m = await withRss(async () => {
      const res = await request(`${agent.publicUrl}bytes/${size}`)
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer)
        length += (chunk as Buffer).length
      }
    })
    t.diagnostic(
      `download 100 MiB: ${(size / MiB / m.seconds).toFixed(1)} MiB/s; RSS growth server ${(m.serverGrowth / MiB).toFixed(1)} MiB, agent ${(m.agentGrowth / MiB).toFixed(1)} MiB`,
    )
    assert.equal(length, size)
    assert.equal(hash.digest('hex'), patternHash(size))
    // No bound on this peak: it is mostly copies waiting for V8's collector (see readWithStall); the stalled test below bounds what the path holds.
  })

  it('uploads 100 MiB intact (chunked) with RSS growth under the bound', async (t) => {
    const size = 100 * MiB
    let echo: { length: number; sha256: string; headers: Record<string, string> } | undefined
    const m = await withRss(async () => {
      const res = await request(`${agent.publicUrl}echo`, { method: 'PUT', body: patternStream(size) })
      echo = (await res.body.json()) as typeof echo
    })
    t.diagnostic(
      `upload 100 MiB: ${(size / MiB / m.seconds).toFixed(1)} MiB/s; RSS growth server ${(m.serverGrowth / MiB).toFixed(1)} MiB, agent ${(m.agentGrowth / MiB).toFixed(1)} MiB`,
    )
    assert.equal(echo!.headers['transfer-encoding'], 'chunked')
    assert.equal(echo!.length, size)
    assert.equal(echo!.sha256, patternHash(size))
    assertBounded(m)
  })

  it('a client that stops reading makes the whole path wait: no process buffers the download', async (t) => {
    const size = 100 * MiB
    const res = await request(`${agent.publicUrl}bytes/${size}`)
    // Stalled reader after the first MiB: 1.5 s in which an unbounded proxy would pull the other 99 MiB into memory.
    const read = await readWithStall(res.body, [server.pid, agent.pid], MiB)
    const [serverStall, agentStall] = read.stallGrowth as [number, number]
    t.diagnostic(`stalled client: RSS growth over the 1.5 s stall: server ${(serverStall / MiB).toFixed(1)} MiB, agent ${(agentStall / MiB).toFixed(1)} MiB`)
    assert.equal(read.length, size)
    assert.equal(read.sha256, patternHash(size))
    assert.ok(serverStall < STALL_GROWTH_BOUND, `server grew ${(serverStall / MiB).toFixed(1)} MiB while the client did not read`)
    assert.ok(agentStall < STALL_GROWTH_BOUND, `agent grew ${(agentStall / MiB).toFixed(1)} MiB while the client did not read`)
  })
})
