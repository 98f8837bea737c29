/**
 * What the cluster end-to-end tests share: finding a Redis (skip loudly
 * without one, fail under CI), a key prefix per run, server processes on one
 * Redis, and a private redis-server this test may stop and restart (never
 * the shared one).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { createClient, type RedisClientType } from 'redis'
import { redactRedisUrl } from '../../src/cluster/index.js'
import { startServerProcess, type ServerProcess } from './processes.js'

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'

/** Unique per run: parallel runs and leftovers never collide; deleteKeys removes it all. */
export function runPrefix(label: string): string {
  return `adit-test:${label}:${process.pid}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}:`
}

/** Null when a Redis answers PING within 2 s; the reason otherwise. */
export async function probeRedis(url: string): Promise<Error | null> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } })
  client.on('error', () => {})
  const timer = new AbortController()
  const silence = delay(2_000, undefined, { signal: timer.signal }).then(() => {
    throw new Error('connected, but no answer to PING within 2 s')
  })
  silence.catch(() => {})
  try {
    await Promise.race([client.connect().then(() => client.ping()), silence])
    return null
  } catch (error) {
    return error as Error
  } finally {
    timer.abort()
    if (client.isOpen) client.destroy()
  }
}

/**
 * True when the suite may run. Otherwise registers one test that fails under
 * CI (Redis must be there) or is skipped with a message naming REDIS_URL.
 */
export async function redisOrSkip(suite: string): Promise<boolean> {
  const unreachable = await probeRedis(REDIS_URL)
  if (unreachable === null) return true
  const why = `no Redis answered at REDIS_URL=${redactRedisUrl(REDIS_URL)} (${unreachable.message || unreachable.name})`
  if (process.env.CI) {
    test(`${suite}: Redis must be reachable in CI (run .ci/redis.sh first)`, () => {
      throw new Error(`${why}. CI is set, so this suite may not be skipped.`)
    })
  } else {
    process.stderr.write(`\n!!! SKIPPING ${suite}: ${why}.\n!!! Start Redis (.ci/redis.sh) or set REDIS_URL to run it.\n\n`)
    test(suite, { skip: `${why}; start Redis (.ci/redis.sh) or set REDIS_URL` }, () => {})
  }
  return false
}

export async function adminClient(url: string): Promise<RedisClientType> {
  const admin = createClient({ url }) as unknown as RedisClientType
  admin.on('error', () => {})
  await admin.connect()
  return admin
}

export async function deleteKeys(admin: RedisClientType, prefix: string): Promise<void> {
  for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    if (keys.length > 0) await admin.del(keys)
  }
}

/** Environment of one cluster member. */
export function clusterEnv(redisUrl: string, prefix: string, signingKey: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { REDIS_URL: redisUrl, ADIT_REDIS_PREFIX: prefix, ADIT_SIGNING_KEY: signingKey, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...extra }
}

/** `adit server` joined to the cluster; `port` to come back where a previous one was. */
export function startMember(env: NodeJS.ProcessEnv, port = 0): Promise<ServerProcess> {
  return startServerProcess({ port, env })
}

/** A free loopback port (for a redis-server that must come back on the same one). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface PrivateRedis {
  url: string
  port: number
  readonly proc: ChildProcess
  /** SIGKILL and wait for the exit (only this process, by its pid). */
  kill(): Promise<void>
  /** Starts again on the same port (empty: no persistence). */
  restart(): Promise<void>
}

const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p))

/** Whether startPrivateRedis can start a redis-server of the test's own. */
export const hasRedisServer = REDIS_SERVER !== undefined

/** A redis-server of this test's own on loopback, without persistence; null when the binary is absent. */
export async function startPrivateRedis(): Promise<PrivateRedis | null> {
  if (REDIS_SERVER === undefined) return null
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let proc: ChildProcess
  const launch = async (): Promise<void> => {
    proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' })
    const deadline = Date.now() + 10_000
    while ((await probeRedis(url)) !== null) {
      if (Date.now() > deadline) throw new Error(`private redis-server on ${port} did not answer within 10 s`)
      await delay(50)
    }
  }
  await launch()
  const kill = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill('SIGKILL')
    await exited
  }
  process.on('exit', () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  return {
    url,
    port,
    get proc() {
      return proc
    },
    kill,
    restart: launch,
  }
}
