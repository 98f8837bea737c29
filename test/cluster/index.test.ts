import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clusterOptionsFromEnv, createCluster, defaultInstanceId } from '../../src/cluster/index.js'

test('createCluster: memory without a Redis URL', async (t) => {
  const cluster = await createCluster({ instanceId: 'solo' })
  t.after(() => cluster.close())
  assert.equal(cluster.kind, 'memory')
  assert.equal(cluster.bus.instanceId, 'solo')
  assert.equal(cluster.healthy(), true)
})

test('createCluster: an empty REDIS_URL still means memory, with a generated instance id', async (t) => {
  const cluster = await createCluster(clusterOptionsFromEnv({ REDIS_URL: '' }))
  t.after(() => cluster.close())
  assert.equal(cluster.kind, 'memory')
  assert.match(cluster.bus.instanceId, /-[0-9a-f]{6}$/)
})

test('createCluster: a Redis URL selects Redis (bad one refused by name)', async () => {
  await assert.rejects(createCluster({ redisUrl: 'http://127.0.0.1:1' }), (e: { code?: string }) => e.code === 'ADIT_ERR_CLUSTER_OPTION')
})

test('clusterOptionsFromEnv reads REDIS_URL, ADIT_REDIS_PREFIX, ADIT_INSTANCE_ID', () => {
  assert.deepEqual(clusterOptionsFromEnv({ REDIS_URL: 'redis://127.0.0.1:6379', ADIT_REDIS_PREFIX: 'p:', ADIT_INSTANCE_ID: 'i1', OTHER: 'x' }), {
    redisUrl: 'redis://127.0.0.1:6379',
    keyPrefix: 'p:',
    instanceId: 'i1',
  })
  assert.deepEqual(clusterOptionsFromEnv({}), {})
})

test('defaultInstanceId differs per call', () => {
  assert.notEqual(defaultInstanceId(), defaultInstanceId())
})
