import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { cleanupList } from '../harness/cleanup.js'
import { startServerProcess } from '../harness/processes.js'
import { startConnect, startTcpAgent } from '../harness/tcp.js'
import { tempDir } from '../harness/temp.js'

/**
 * A real peer through a TCP tunnel: PostgreSQL at 127.0.0.1:5432 (user
 * postgres, trust; `.ci/postgres.sh` starts one), reached with psql through
 * `adit tcp` + `adit connect --listen`. Without one the suite is skipped
 * loudly, except under CI, where it fails.
 */
const PG = { host: '127.0.0.1', port: 5432 }

function missingPiece(): string | null {
  if (spawnSync('psql', ['--version']).status !== 0) return 'psql is not installed (Debian: postgresql-client)'
  const probe = spawnSync('psql', ['-h', PG.host, '-p', String(PG.port), '-U', 'postgres', '-w', '-Atqc', 'select 1'], { encoding: 'utf8', timeout: 10_000 })
  if (probe.status !== 0 || probe.stdout.trim() !== '1')
    return `no PostgreSQL answers at ${PG.host}:${PG.port} for user postgres with trust auth (${(probe.stderr || '').trim() || 'no answer'}); run .ci/postgres.sh`
  return null
}

/** Runs psql against host:port; resolves with the sha256 and length of its stdout (streamed, never held whole). */
function psql(port: number, args: string[], input?: Buffer): Promise<{ hash: string; bytes: number; ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn('psql', ['-h', PG.host, '-p', String(port), '-U', 'postgres', '-w', '-X', '-v', 'ON_ERROR_STOP=1', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const hash = createHash('sha256')
    let bytes = 0
    let head = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      hash.update(c)
      bytes += c.length
      if (head.length < 4096) head += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`psql exited ${code}: ${stderr.trim()}`))
      resolve({ hash: hash.digest('hex'), bytes, ms: Number(process.hrtime.bigint() - started) / 1e6, stdout: head })
    })
    child.stdin.end(input)
  })
}

// 102 400 rows of 1024 characters and a newline: just over 100 MiB.
const ROWS = 102_400
const COPY_OUT = `COPY (SELECT repeat(md5(i::text), 32) FROM generate_series(1, ${ROWS}) i) TO STDOUT`

const missing = missingPiece()
if (missing !== null && process.env.CI !== 'true')
  process.stderr.write(`\n*** SKIPPED tcp-postgres: ${missing} ***\n*** (under CI=true this fails instead) ***\n\n`)

describe(
  'PostgreSQL through a TCP tunnel (psql, adit tcp, adit connect)',
  { skip: missing !== null && process.env.CI !== 'true' ? missing : false, timeout: 300_000 },
  () => {
    const cleanup = cleanupList()
    let port = 0

    before(async () => {
      if (missing !== null) throw new Error(`CI=true and the TCP tunnel test has no PostgreSQL: ${missing}`)
      const dir = cleanup.add(tempDir())
      const server = cleanup.add(await startServerProcess())
      const agent = cleanup.add(await startTcpAgent(server.url, `${PG.host}:${PG.port}`, dir.file('pg-state.json')))
      port = cleanup.add(await startConnect(agent.publicUrl, ['--token', agent.token])).port
    })
    after(() => cleanup.run())

    it('answers a query', async () => {
      const result = await psql(port, ['-Atc', 'select 40 + 2'])
      assert.equal(result.stdout.trim(), '42')
    })

    it('carries a 100 MiB COPY TO STDOUT byte for byte (hash against the direct connection)', async (t) => {
      const direct = await psql(PG.port, ['-Atc', COPY_OUT])
      const tunnelled = await psql(port, ['-Atc', COPY_OUT])
      assert.equal(direct.bytes, ROWS * 1025)
      assert.ok(direct.bytes >= 100 * 1024 * 1024)
      assert.equal(tunnelled.bytes, direct.bytes)
      assert.equal(tunnelled.hash, direct.hash)
      // Reported, never asserted (timing on a shared machine).
      t.diagnostic(`100 MiB COPY direct ${direct.ms.toFixed(0)} ms, tunnelled ${tunnelled.ms.toFixed(0)} ms, ratio ${(direct.ms / tunnelled.ms).toFixed(2)}`)
    })

    it('carries a COPY FROM STDIN upload (16 MiB) into a temp table, checked by md5 against what was sent', async () => {
      const lines: string[] = []
      for (let i = 0; i < 16 * 1024; i++) lines.push(createHash('sha256').update(String(i)).digest('hex').repeat(16).slice(0, 1023))
      const data = Buffer.from(`${lines.join('\n')}\n`)
      const expected = createHash('md5').update(lines.join('')).digest('hex')
      const script = Buffer.concat([
        Buffer.from('CREATE TEMP TABLE up (n serial, t text);\nCOPY up (t) FROM STDIN;\n'),
        data,
        Buffer.from("\\.\nSELECT count(*) || ' ' || md5(string_agg(t, '' ORDER BY n)) FROM up;\n"),
      ])
      const result = await psql(port, ['-Aqt', '-f', '-'], script)
      assert.equal(result.stdout.trim(), `${lines.length} ${expected}`)
    })
  },
)
