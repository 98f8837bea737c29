import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { cleanupList } from '../harness/cleanup.js'
import { startLocalService } from '../harness/local-service.js'
import { spawnAdit, startServerProcess } from '../harness/processes.js'
import { tempDir } from '../harness/temp.js'

describe('piped adit http: the forwarding line is written when the tunnel is up, not held behind the inspector line', () => {
  const jobs = cleanupList()
  after(() => jobs.run())

  it('the inspector line does not start the 50 ms line batch that the forwarding line then waited out', { timeout: 60_000 }, async () => {
    // The first line of a batch is written at once and starts a 50 ms batch: the forwarding line,
    // a few ms after the inspector line, waited until its end (≥ 50 ms, by the timer, every start).
    const service = jobs.add(await startLocalService())
    const server = jobs.add(await startServerProcess({ args: ['--store', 'memory'] }))
    const dir = jobs.add(tempDir())
    const gaps: number[] = []
    for (let run = 0; run < 3; run++) {
      const agent = spawnAdit([
        'http',
        String(new URL(service.url).port),
        '--server',
        server.url,
        '--inspect',
        '127.0.0.1:0',
        '--state-file',
        dir.file(`state-${run}.json`),
      ])
      try {
        await agent.waitForLine((l) => l.startsWith('adit: inspector on '), 30_000)
        const inspectorAt = performance.now()
        await agent.waitForLine((l) => l.startsWith('adit: forwarding '), 30_000)
        gaps.push(performance.now() - inspectorAt)
        // Same lines, same order as before.
        assert.ok(agent.lines.findIndex((l) => l.startsWith('adit: inspector on ')) < agent.lines.findIndex((l) => l.startsWith('adit: forwarding ')))
      } finally {
        await agent.stop()
      }
    }
    // The best of three: a loaded machine may slow one start, not all three past the batch.
    assert.ok(Math.min(...gaps) < 45, `inspector → forwarding lines: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`)
  })
})
