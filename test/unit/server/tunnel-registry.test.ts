import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AgentConnection } from '../../../src/server/agent-connection.js'
import { TunnelRegistry } from '../../../src/server/tunnel-registry.js'

/** The registry reads only `tunnelId` and a few session fields. */
function fake(
  tunnelId: string,
  session: Partial<{ goingAway: boolean; closed: boolean; moveRequested: boolean; heavyStreams: number; activeStreams: number }> = {},
): AgentConnection {
  return {
    tunnelId,
    session: { goingAway: false, closed: false, moveRequested: false, heavyStreams: 0, activeStreams: 0, ...session },
  } as unknown as AgentConnection
}

describe('TunnelRegistry.pick', () => {
  it('skips connections going away or closed, then prefers not-moving, fewer bulk transfers, fewer streams', () => {
    const registry = new TunnelRegistry()
    registry.add(fake('t', { goingAway: true, activeStreams: 0 }))
    const closed = fake('t', { closed: true })
    const moving = fake('t', { moveRequested: true, activeStreams: 0 })
    const heavy = fake('t', { heavyStreams: 1, activeStreams: 1 })
    const busy = fake('t', { activeStreams: 5 })
    const idle = fake('t', { activeStreams: 2 })
    for (const c of [closed, moving, heavy, busy, idle]) registry.add(c)
    assert.equal(registry.get('t')!.pick(), idle)
    registry.remove(idle)
    assert.equal(registry.get('t')!.pick(), busy)
    registry.remove(busy)
    assert.equal(registry.get('t')!.pick(), heavy, 'a bulk transfer beats a connection asked to move')
    registry.remove(heavy)
    assert.equal(registry.get('t')!.pick(), moving, 'asked to move is still usable when nothing else is')
    registry.remove(moving)
    assert.equal(registry.get('t')!.pick(), undefined)
  })

  it('forgets a tunnel with its last connection and remembers when it left', () => {
    const registry = new TunnelRegistry()
    const c = fake('gone')
    registry.add(c)
    assert.equal(registry.recentlyConnected('gone', 1000), false)
    registry.remove(c)
    assert.equal(registry.get('gone'), undefined)
    assert.equal(registry.recentlyConnected('gone', 1000), true)
    assert.equal(registry.recentlyConnected('other', 1000), false)
  })
})

describe('TunnelRegistry.waitForConnection (the hold)', () => {
  it('resolves at once with a live connection, or when one arrives', async () => {
    const registry = new TunnelRegistry()
    const waiting = registry.waitForConnection('t', 5000)
    assert.equal(registry.waitingCount, 1)
    const c = fake('t')
    registry.add(c)
    assert.equal(await waiting, c)
    assert.equal(registry.waitingCount, 0)
    assert.equal(await registry.waitForConnection('t', 5000), c)
  })

  it('resolves undefined after the timeout and forgets the waiter', async () => {
    const registry = new TunnelRegistry()
    assert.equal(await registry.waitForConnection('t', 20), undefined)
    assert.equal(registry.waitingCount, 0)
  })

  it('a connection that cannot take streams does not wake waiters', async () => {
    const registry = new TunnelRegistry()
    const waiting = registry.waitForConnection('t', 50)
    registry.add(fake('t', { goingAway: true }))
    assert.equal(await waiting, undefined)
  })
})
