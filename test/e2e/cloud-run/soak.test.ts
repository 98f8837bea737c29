/**
 * The soak (issue 16): three instances on a Redis of this test's own,
 * behind the emulated Cloud Run front end, under continuous load (small
 * requests, SSE, WebSocket echo, 100 MiB downloads, 20 MiB uploads), through
 * a rolling new revision, a scale-in 3→1 and back, one SIGKILL, the request
 * timeout crossed many times, and a Redis restart. Per event: requests
 * failed, the longest time without a served small request, memory per
 * instance. Every body is hash-checked; a wrong or short body fails the run.
 * The figures (printed, and written to ADIT_SOAK_OUT) are in docs/cloud-run.md.
 *
 * Bounded (about three minutes on two cores). It runs only with ADIT_SOAK=1 and
 * is skipped loudly elsewhere, CI included: it is not reliably green yet (public
 * WebSocket echo sessions through the relay sometimes stall past 10 s, and the
 * findings in docs/cloud-run.md are open), and a red soak must not block CI.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { startCloudRun, type CloudRun } from '../../harness/cloud-run/index.js'
import { clusterEnv, runPrefix, startPrivateRedis, type PrivateRedis } from '../../harness/cluster.js'
import type { LocalService } from '../../harness/local-service.js'
import { memoryOf, startAgentProcess, type AgentProcess } from '../../harness/processes.js'
import { startSoakLoad, startSoakService, type Kind, type Outcome } from '../../harness/soak-load.js'
import { tempDir } from '../../harness/temp.js'

const API_KEY = 'cloud-run-soak-api-key-0123456789abcdef'
// Compressed from Cloud Run's 3600 s, yet above what a 100 MiB transfer takes on two busy cores (~30 s).
const TIMEOUT_MS = 60_000
const MiB = 1024 * 1024
const wanted = process.env.ADIT_SOAK === '1'

interface EventFigure {
  event: string
  startedAt: number
  endedAt: number
}

const KINDS: Kind[] = ['small', 'sse', 'websocket', 'download', 'upload']

/**
 * Per event, the exchanges that ended between its start and the next event's
 * (each exchange counted once: an event's cost that surfaces in the next
 * event's first seconds used to be counted in both), failures by kind, and the
 * longest gap between served small requests there.
 */
function figures(events: EventFigure[], outcomes: Outcome[], memory: Map<string, number[]>, loadStoppedAt: number) {
  const rows = events.map((e, i) => {
    const next = events[i + 1]?.startedAt
    const until = next ?? loadStoppedAt
    const inside = outcomes.filter((o) => o.end >= e.startedAt && (next === undefined || o.end < next))
    const failed = Object.fromEntries(KINDS.map((k) => [k, inside.filter((o) => o.kind === k && !o.ok).length])) as Record<Kind, number>
    const total = inside.length
    const served = inside
      .filter((o) => o.kind === 'small' && o.ok)
      .map((o) => o.end)
      .sort((a, b) => a - b)
    let gap = 0
    let last = e.startedAt
    for (const t of served) {
      gap = Math.max(gap, t - last)
      last = t
    }
    gap = Math.max(gap, until - last)
    const took = (k: Kind) => {
      const ms = inside
        .filter((o) => o.kind === k && o.ok)
        .map((o) => o.end - o.start)
        .sort((a, b) => a - b)
      return ms.length === 0 ? '-' : `${(ms[Math.floor(ms.length / 2)]! / 1000).toFixed(1)}/${(ms[ms.length - 1]! / 1000).toFixed(1)}`
    }
    const durations = KINDS.map((k) => `${k} ${took(k)}`).join(', ')
    const errors = [...new Set(inside.filter((o) => !o.ok).map((o) => `${o.kind}: ${o.error}`))].slice(0, 4)
    return { event: e.event, ms: e.endedAt - e.startedAt, exchanges: total, failed, longestGapMs: gap, durations, memoryMiB: memory.get(e.event) ?? [], errors }
  })
  return rows
}

function table(rows: ReturnType<typeof figures>): string {
  const head =
    '| event | took | exchanges | failed (small/sse/ws/down/up) | longest gap without a served request | RSS per instance (MiB) |\n|---|---|---|---|---|---|\n'
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.event} | ${(r.ms / 1000).toFixed(1)} s | ${r.exchanges} | ${KINDS.map((k) => r.failed[k]).join('/')} | ${(r.longestGapMs / 1000).toFixed(2)} s | ${r.memoryMiB.join(', ')} |`,
      )
      .join('\n')
  )
}

describe('soak under the emulated Cloud Run front end', { skip: wanted ? false : 'set ADIT_SOAK=1 to run the soak' }, () => {
  const dir = tempDir()
  let redis: PrivateRedis | null = null
  let cr: CloudRun
  let service: LocalService
  let agent: AgentProcess
  before(async () => {
    redis = await startPrivateRedis()
    if (redis === null) throw new Error('the soak needs redis-server (/usr/bin/redis-server) to start a Redis of its own')
    service = await startSoakService()
    cr = await startCloudRun({
      instances: 3,
      timeoutMs: TIMEOUT_MS,
      coldStartMs: 500,
      concurrency: 1000,
      env: clusterEnv(redis.url, runPrefix('soak'), 'cloud-run-soak-signing-key-0123456789abcdef', {
        ADIT_API_KEYS: API_KEY,
        ADIT_SERVICE_TIMEOUT: `${TIMEOUT_MS / 1000}s`,
        LOG_LEVEL: process.env.ADIT_SOAK_LOG_LEVEL ?? 'warn',
      }),
    })
    agent = await startAgentProcess(cr.url, service.url, { stateFile: dir.file('state.json'), args: ['--api-key', API_KEY], env: { LOG_LEVEL: 'warn' } })
  })
  after(async () => {
    await agent?.stop()
    await cr?.close()
    await service?.close()
    await redis?.kill()
    dir.remove()
  })

  if (!wanted) process.stderr.write('\n!!! SKIPPING the Cloud Run soak (test/e2e/cloud-run/soak.test.ts): set ADIT_SOAK=1 to run it (about 3 minutes).\n\n')

  it(
    'serves through every event: no wrong or short body, every kind served, no WebSocket cut at the timeout, small requests lost only to the SIGKILL and the Redis restart',
    { timeout: 420_000 },
    async () => {
      const load = startSoakLoad({
        publicUrl: agent.publicUrl,
        smallWorkers: 3,
        downloadBytes: 100 * MiB,
        uploadBytes: 20 * MiB,
        deadline: Date.now() + 360_000,
      })
      const events: EventFigure[] = []
      let loadStoppedAt = 0
      const memory = new Map<string, number[]>()
      const run = async (event: string, action: () => Promise<unknown>, settleMs = 3_000): Promise<void> => {
        const startedAt = Date.now()
        await action()
        await delay(settleMs)
        events.push({ event, startedAt, endedAt: Date.now() })
        memory.set(
          event,
          cr.pool.live.map((i) => {
            try {
              return Math.round(memoryOf(i.pid) / MiB)
            } catch {
              return 0
            }
          }),
        )
      }
      try {
        await run('steady (3 instances)', () => delay(5_000), 0)
        await run('rolling new revision (3 replaced)', () => cr.deploy('00002'))
        await run('scale-in 3→1', () => cr.scaleTo(1))
        await run('scale-out 1→3', () => cr.scaleTo(3))
        await run('SIGKILL one instance', async () => {
          await cr.kill(cr.serving[0]!)
          await cr.scaleTo(3)
        })
        await run('Redis restarted', async () => {
          await redis!.kill()
          await delay(1_000)
          await redis!.restart()
        })
        // By now the agent's connections have outlived the request timeout more than once: they were rotated.
        await run(`steady again, past ${TIMEOUT_MS / 1000} s timeouts`, () => delay(5_000), 0)
      } finally {
        loadStoppedAt = Date.now()
        await load.stop()
      }
      const rows = figures(events, load.outcomes, memory, loadStoppedAt)
      const report = table(rows)
      process.stderr.write(`\nsoak figures:\n${report}\n`)
      for (const r of rows)
        process.stderr.write(`  ${r.event}: served in s (median/max) ${r.durations}${r.errors.length > 0 ? `; errors: ${r.errors.join(' | ')}` : ''}\n`)
      process.stderr.write(`front end: ${JSON.stringify(cr.counters)}\n`)
      if (process.env.ADIT_SOAK_OUT) {
        const failures = load.outcomes.filter((o) => !o.ok)
        const logs = Object.fromEntries([...cr.pool.all.map((i) => [`${i.name} pid ${i.pid}`, i.proc.lines]), ['agent', agent.lines]])
        writeFileSync(
          process.env.ADIT_SOAK_OUT,
          JSON.stringify({ rows, counters: cr.counters, table: report, events, failures, logs, frontEnd: cr.log }, null, 2),
        )
      }

      const corrupt = load.outcomes.filter((o) => o.corrupt)
      assert.deepEqual(corrupt, [], 'no body arrived wrong or short')
      for (const kind of KINDS)
        assert.ok(
          load.outcomes.some((o) => o.kind === kind && o.ok),
          `some ${kind} exchanges were served`,
        )
      assert.equal(cr.counters.upgradeTimeouts, 0, 'the front end cut no WebSocket at its timeout: the agent rotates first')
      // What this soak still finds (docs/cloud-run.md, "What the soak shows") is in the figures; what holds is asserted.
      for (const r of rows) {
        if (r.event.startsWith('SIGKILL') || r.event.startsWith('Redis')) continue
        assert.equal(r.failed.small, 0, `${r.event}: ${r.failed.small} small requests failed: ${r.errors.join(' | ')}`)
      }
    },
  )
})
