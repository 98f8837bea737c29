import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createMemoryCluster, createMemoryHub } from '../../src/cluster/memory.js'
import { runClusterContract } from './contract.js'

runClusterContract({
  name: 'memory',
  async world(now) {
    const hub = createMemoryHub()
    return {
      async join(instanceId, options) {
        return createMemoryCluster({ instanceId, hub, now, ...options })
      },
      async dispose() {},
    }
  },
})

test('memory: bad options are named with ADIT_ERR_CLUSTER_OPTION', () => {
  for (const options of [{ instanceId: '' }, { instanceId: 'a', now: 5 }, { instanceId: 'a', hub: {} }]) {
    assert.throws(
      () => createMemoryCluster(options as never),
      (error: { code?: string }) => error.code === 'ADIT_ERR_CLUSTER_OPTION',
    )
  }
})

test('memory: clusters without a shared hub share nothing', async (t) => {
  const a = createMemoryCluster({ instanceId: 'a' })
  const b = createMemoryCluster({ instanceId: 'b' })
  t.after(() => Promise.all([a.close(), b.close()]))
  assert.equal(a.kind, 'memory')
  await a.store.put({ id: 't1', createdAt: 1, lastSeenAt: 1, secretGeneration: 0 })
  assert.equal(await b.store.get('t1'), null)
  await b.bus.subscribe(() => {})
  assert.equal(await a.bus.publish('b', Buffer.from('x')), false)
})
