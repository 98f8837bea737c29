/**
 * A TCP tunnel across instances (Cloud Run runs several): the visitor's
 * WebSocket lands on A, the tunnel's agent is connected to B. A checks the
 * visitor token from the shared record, and the TCP stream (OPEN `tcp`)
 * crosses to B over the cluster relay with its flow control and half-close.
 * Without Redis this file skips loudly, except under CI, where it fails.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { register } from '../../src/agent/registration.js'
import { saveState } from '../../src/agent/state-file.js'
import { cleanupList } from '../harness/cleanup.js'
import { adminClient, clusterEnv, deleteKeys, redisOrSkip, REDIS_URL, runPrefix, startMember } from '../harness/cluster.js'
import { startConnect, startTcpAgent, startTcpService, tcpClient } from '../harness/tcp.js'
import { tempDir } from '../harness/temp.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

const available = await redisOrSkip('TCP tunnel across instances (Redis)')

if (available) {
  describe('a TCP tunnel whose visitor lands on A and whose agent is on B', { timeout: 120_000 }, () => {
    const cleanup = cleanupList()
    const prefix = runPrefix('e2e-tcp')
    after(async () => {
      await cleanup.run()
      const admin = await adminClient(REDIS_URL)
      await deleteKeys(admin, prefix)
      admin.destroy()
    })

    it('carries an echo session with half-close through the relay, and A refuses a visitor without the token', async () => {
      const env = clusterEnv(REDIS_URL, prefix, randomBytes(32).toString('base64'))
      const a = cleanup.add(await startMember(env))
      const b = cleanup.add(await startMember(env))
      const service = cleanup.add(
        await startTcpService((socket) => {
          socket.pipe(socket)
        }),
      )
      const dir = cleanup.add(tempDir())
      const state = await register(new URL(a.url), undefined)
      await saveState(dir.file('b.json'), { ...state, server: new URL(b.url).origin })
      const agent = cleanup.add(await startTcpAgent(b.url, String(service.port), dir.file('b.json')))
      assert.equal(agent.id, state.id)
      assert.ok(!a.lines.some((l) => l.includes('"message":"agent connected"')), 'no agent on A')
      const publicOnA = `${a.url}/pub/${state.id}/`

      const refused = cleanup.add(await startConnect(publicOnA, []))
      await (
        await tcpClient(refused.port)
      ).received
      await refused.waitForLine((l) => l.includes('ADIT_ERR_VISITOR_CREDENTIAL'))
      assert.equal(service.accepted(), 0)

      const visitor = cleanup.add(await startConnect(publicOnA, ['--token', agent.token]))
      const { socket, received } = await tcpClient(visitor.port)
      const sent = randomBytes(8 * 1024 * 1024)
      socket.end(sent)
      const result = await received
      assert.equal(result.error, undefined)
      assert.equal(result.ended, true)
      assert.equal(sha(result.data), sha(sent))
      assert.equal(service.accepted(), 1)
    })
  })
}
