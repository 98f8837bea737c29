// deploy/cloud-run.sh, run for real with bash: in DRY_RUN mode (it prints the
// gcloud commands) and against a fake gcloud on PATH that records every call
// and answers the describe commands, so the whole deploy path runs here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoPath } from './repo.js'

const script = repoPath('deploy', 'cloud-run.sh')
const SEP = '\x1f'

// Records argv (fields separated by \x1f) to $FAKE_GCLOUD_DIR/calls, stdin of
// `secrets versions add` to secret-NAME, and answers like gcloud would.
const fakeGcloud = `#!/usr/bin/env bash
set -euo pipefail
dir=$FAKE_GCLOUD_DIR
(IFS=$'\\x1f'; printf '%s\\n' "$*") >>"$dir/calls"
args=" $* "
name_after() { local want=$1; shift; local prev=''; for a in "$@"; do if [[ "$prev" == "$want" ]]; then printf '%s' "$a"; return; fi; prev=$a; done; }
case "$args" in
  *" artifacts repositories describe "*) exit 0 ;;
  *" projects describe "*) echo 123456789 ;;
  *" secrets describe "*) exit 1 ;;
  *" secrets versions add "*) cat >"$dir/secret-$(name_after add "$@")" ;;
  *" redis instances get-auth-string "*) echo 'a-uth/str+ing' ;;
  *" redis instances describe "*" --flatten=serverCaCerts "*) printf -- '-----BEGIN CERTIFICATE-----\\nMIIFAKE\\n-----END CERTIFICATE-----\\n' ;;
  *" redis instances describe "*) printf '10.0.0.3\\t6378\\tSERVER_AUTHENTICATION\\tTrue\\n' ;;
  *" run services describe "*)
    svc=$(name_after describe "$@")
    if [[ -e "$dir/deployed-$svc" ]]; then echo "https://$svc-123456789.us-central1.run.app"; else exit 1; fi ;;
  *" run deploy "*) touch "$dir/deployed-$(name_after deploy "$@")" ;;
  *) exit 0 ;;
esac
`

interface Run {
  code: number | null
  stdout: string
  stderr: string
  /** Every fake gcloud call, argv without the leading "gcloud". */
  calls: string[][]
  /** Values piped into `gcloud secrets versions add NAME`. */
  secrets: Map<string, string>
}

interface RunOptions {
  env: Record<string, string>
  /** Services that exist before the run (a redeploy). */
  existing?: string[]
}

function makeFakeDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'adit-gcloud-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gcloud'), fakeGcloud)
  chmodSync(join(dir, 'gcloud'), 0o755)
  return dir
}

async function runScript(t: { after: (fn: () => void) => void }, options: RunOptions): Promise<Run> {
  const dir = makeFakeDir(t)
  for (const service of options.existing ?? []) writeFileSync(join(dir, `deployed-${service}`), '')
  const env: Record<string, string> = {
    PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: dir,
    FAKE_GCLOUD_DIR: dir,
    PROJECT: 'demo-project',
    ...options.env,
  }
  const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c) => resolve(c))
  })
  const callsFile = join(dir, 'calls')
  const calls = existsSync(callsFile)
    ? readFileSync(callsFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(SEP))
    : []
  const secrets = new Map<string, string>()
  for (const name of readdirSync(dir)) {
    if (name.startsWith('secret-')) secrets.set(name.slice('secret-'.length), readFileSync(join(dir, name), 'utf8'))
  }
  return { code, stdout, stderr, calls, secrets }
}

/** Dry-run lines ("+ gcloud …") as word lists. */
function printed(run: Run): string[][] {
  return run.stdout
    .split('\n')
    .filter((l) => l.startsWith('+ gcloud '))
    .map((l) => l.slice(2).split(' '))
}

function find(commands: string[][], ...words: string[]): string[][] {
  return commands.filter((c) => words.every((w) => c.includes(w)))
}

function flag(command: string[], name: string): string | undefined {
  const found = command.find((a) => a.startsWith(`${name}=`))
  return found?.slice(name.length + 1)
}

const longLivedWebSockets = ['--timeout=3600', '--min-instances=1', '--no-cpu-throttling', '--session-affinity', '--concurrency=1000']

test('cloud-run.sh DRY_RUN=1: prints the build and deploy, runs no gcloud', async (t) => {
  const run = await runScript(t, { env: { DRY_RUN: '1' } })
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(run.calls, [], 'gcloud must not be run in a dry run')
  const commands = printed(run)
  const [build] = find(commands, 'builds', 'submit')
  assert.ok(build, 'Cloud Build step')
  const deploys = find(commands, 'run', 'deploy')
  assert.equal(deploys.length, 1)
  const deploy = deploys[0]!
  for (const f of [...longLivedWebSockets, '--no-use-http2', '--allow-unauthenticated', '--ingress=all'])
    assert.ok(deploy.includes(f), `${f} in: ${deploy.join(' ')}`)
  assert.equal(flag(deploy, '--image'), flag(build, '--tag'), 'deploys the image it built')
  // Without Redis, state is in one process: one instance only.
  assert.equal(flag(deploy, '--max-instances'), '1')
  const secrets = flag(deploy, '--set-secrets')?.split(',') ?? []
  assert.ok(secrets.includes('ADIT_SIGNING_KEY=adit-signing-key:latest'))
  assert.ok(secrets.includes('ADIT_API_KEYS=adit-api-keys:latest'))
  assert.match(flag(deploy, '--startup-probe') ?? '', /httpGet\.path=\/healthz/)
  const [update] = find(commands, 'run', 'services', 'update')
  assert.ok(update, 'PUBLIC_BASE_URL is set once the URL is known')
  assert.match(flag(update, '--update-env-vars') ?? '', /^PUBLIC_BASE_URL=https:\/\//)
  assert.ok(commands.indexOf(update) > commands.indexOf(deploy))
  assert.match(run.stdout, /dry run/)
})

test('cloud-run.sh DRY_RUN=1 LAYOUT=cluster: a /pub and a /ws service sharing Redis, secrets never printed', async (t) => {
  const password = 'hunter2-not-for-logs'
  const run = await runScript(t, {
    env: {
      DRY_RUN: '1',
      LAYOUT: 'cluster',
      PUB_USE_HTTP2: '1',
      BUILD: 'none',
      IMAGE: 'example/adit:1',
      REDIS_URL: `redis://default:${password}@10.1.2.3:6379`,
      NETWORK: 'vpc-a',
      SUBNET: 'sub-a',
    },
  })
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(run.calls, [])
  const commands = printed(run)
  assert.deepEqual(find(commands, 'builds', 'submit'), [], 'BUILD=none builds nothing')
  const pub = find(commands, 'run', 'deploy', 'adit-pub')[0]
  const ws = find(commands, 'run', 'deploy', 'adit-ws')[0]
  assert.ok(pub && ws, 'two services')
  assert.ok(pub.includes('--use-http2'), 'public side: h2c end to end')
  assert.match(flag(pub, '--set-env-vars') ?? '', /ADIT_H2C=true/, 'the server accepts h2c when Cloud Run sends it')
  assert.ok(ws.includes('--no-use-http2'), 'agent side: HTTP/1.1 for WebSocket upgrades')
  for (const deploy of [pub, ws]) {
    for (const f of [...longLivedWebSockets, '--network=vpc-a', '--subnet=sub-a', '--vpc-egress=private-ranges-only']) assert.ok(deploy.includes(f), f)
    assert.ok(flag(deploy, '--set-secrets')?.split(',').includes('REDIS_URL=adit-redis-url:latest'))
    assert.equal(flag(deploy, '--max-instances'), '10')
  }
  // Both services hand out public URLs on the /pub service.
  const updates = find(commands, 'run', 'services', 'update')
  assert.equal(updates.length, 2)
  for (const update of updates) assert.match(flag(update, '--update-env-vars') ?? '', /^PUBLIC_BASE_URL=https:\/\/adit-pub-/)
  assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password), 'the Redis password is never printed')
  assert.match(run.stdout, /ADIT_SERVER=https:\/\/adit-ws-/)
})

test('cloud-run.sh LAYOUT=cluster defaults to HTTP/1.1 on both services', async (t) => {
  const run = await runScript(t, { env: { DRY_RUN: '1', LAYOUT: 'cluster', BUILD: 'none', IMAGE: 'x', REDIS_URL: 'redis://10.0.0.9:6379' } })
  assert.equal(run.code, 0, run.stderr)
  for (const deploy of find(printed(run), 'run', 'deploy')) assert.ok(deploy.includes('--no-use-http2'))
})

test('cloud-run.sh: a given PUBLIC_BASE_URL goes into the deploy, with no second revision', async (t) => {
  const run = await runScript(t, {
    env: { DRY_RUN: '1', BUILD: 'none', IMAGE: 'x', PUBLIC_BASE_URL: 'https://adit.example.com', PUBLIC_HOST_SUFFIX: 't.example.com' },
  })
  assert.equal(run.code, 0, run.stderr)
  const commands = printed(run)
  const deploy = find(commands, 'run', 'deploy')[0]!
  const env = (flag(deploy, '--set-env-vars') ?? '').replace(/^\^@\^/, '').split('@')
  assert.ok(env.includes('PUBLIC_BASE_URL=https://adit.example.com'))
  assert.ok(env.includes('PUBLIC_HOST_SUFFIX=t.example.com'))
  assert.ok(env.includes('ADIT_SERVICE_TIMEOUT=3600s'), 'the server knows the timeout that cuts its WebSockets')
  assert.deepEqual(find(commands, 'run', 'services', 'update'), [])
})

for (const [name, env, mentions] of [
  ['cluster without Redis', { LAYOUT: 'cluster' }, 'REDIS_INSTANCE'],
  ['several instances without Redis', { MAX_INSTANCES: '3' }, 'MAX_INSTANCES'],
  ['an unknown layout', { LAYOUT: 'mesh' }, 'LAYOUT'],
  ['two Redis sources', { REDIS_URL: 'redis://x', REDIS_INSTANCE: 'r' }, 'REDIS_INSTANCE'],
  ['a non-numeric concurrency', { CONCURRENCY: 'lots' }, 'CONCURRENCY'],
  ['an unknown ingress', { INGRESS: 'public' }, 'INGRESS'],
] as const) {
  test(`cloud-run.sh refuses ${name} (exit 2, names the variable)`, async (t) => {
    const run = await runScript(t, { env: { DRY_RUN: '1', ...env } })
    assert.equal(run.code, 2)
    assert.match(run.stderr, new RegExp(mentions))
    assert.deepEqual(find(printed(run), 'run', 'deploy'), [], 'nothing deployed')
  })
}

test('cloud-run.sh with a (fake) gcloud: secrets created by stdin, Memorystore over TLS, URL read back', async (t) => {
  const run = await runScript(t, { env: { BUILD: 'none', IMAGE: 'example/adit:2', REDIS_INSTANCE: 'adit-redis' } })
  assert.equal(run.code, 0, run.stderr)
  const calls = run.calls
  assert.ok(calls.length > 0 && calls.every((c) => c.includes('--project=demo-project')))

  const signingKey = run.secrets.get('adit-signing-key') ?? ''
  assert.match(signingKey, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit base64url signing key')
  assert.match(run.secrets.get('adit-api-keys') ?? '', /^[A-Za-z0-9_-]{43}$/)
  assert.notEqual(signingKey, run.secrets.get('adit-api-keys'))
  // AUTH string URL-encoded; TLS port; the CA stored for NODE_EXTRA_CA_CERTS.
  assert.equal(run.secrets.get('adit-redis-url'), 'rediss://default:a-uth%2Fstr%2Bing@10.0.0.3:6378')
  assert.match(run.secrets.get('adit-redis-ca') ?? '', /^-----BEGIN CERTIFICATE-----\n/)
  for (const value of run.secrets.values()) {
    assert.ok(!run.stdout.includes(value.trim()) && !run.stderr.includes(value.trim()), 'no secret value printed')
    assert.ok(!calls.some((c) => c.join(' ').includes(value.trim())), 'no secret value on a command line')
  }
  for (const secret of ['adit-signing-key', 'adit-api-keys', 'adit-redis-url', 'adit-redis-ca']) {
    const grant = find(calls, 'secrets', 'add-iam-policy-binding', secret)[0]
    assert.ok(grant, `${secret} readable by the runtime account`)
    assert.equal(flag(grant, '--member'), 'serviceAccount:123456789-compute@developer.gserviceaccount.com')
  }

  const deploy = find(calls, 'run', 'deploy', 'adit')[0]!
  for (const f of longLivedWebSockets) assert.ok(deploy.includes(f), f)
  assert.ok(flag(deploy, '--set-secrets')?.split(',').includes('/secrets/redis-ca/ca.pem=adit-redis-ca:latest'))
  assert.match(flag(deploy, '--set-env-vars') ?? '', /NODE_EXTRA_CA_CERTS=\/secrets\/redis-ca\/ca\.pem/)
  const update = find(calls, 'run', 'services', 'update', 'adit')[0]
  assert.ok(update)
  assert.equal(flag(update, '--update-env-vars'), 'PUBLIC_BASE_URL=https://adit-123456789.us-central1.run.app')
  assert.ok(calls.indexOf(update) > calls.indexOf(deploy))
})

test('cloud-run.sh with a (fake) gcloud: a redeploy reuses the known URL in one revision', async (t) => {
  const run = await runScript(t, { env: { BUILD: 'none', IMAGE: 'example/adit:3' }, existing: ['adit'] })
  assert.equal(run.code, 0, run.stderr)
  const deploy = find(run.calls, 'run', 'deploy', 'adit')[0]!
  assert.match(flag(deploy, '--set-env-vars') ?? '', /PUBLIC_BASE_URL=https:\/\/adit-123456789\.us-central1\.run\.app/)
  assert.deepEqual(find(run.calls, 'run', 'services', 'update'), [])
})

test('cloud-run.sh LARGE_UPLOADS=1: two services, h2c end to end on the public one, HTTP/1 for agents', async (t) => {
  const run = await runScript(t, { env: { DRY_RUN: '1', LARGE_UPLOADS: '1', BUILD: 'none', IMAGE: 'x', REDIS_URL: 'redis://10.0.0.9:6379' } })
  assert.equal(run.code, 0, run.stderr)
  const commands = printed(run)
  const pub = find(commands, 'run', 'deploy', 'adit-pub')[0]
  const ws = find(commands, 'run', 'deploy', 'adit-ws')[0]
  assert.ok(pub?.includes('--use-http2') && /ADIT_H2C=true/.test(flag(pub, '--set-env-vars') ?? ''), 'public side: no 32 MiB cap')
  assert.ok(ws?.includes('--no-use-http2'), 'agent side: WebSocket upgrades need HTTP/1')
})

for (const [name, env, mentions] of [
  ['LARGE_UPLOADS=1 without Redis', { LARGE_UPLOADS: '1' }, /Redis/],
  ['LARGE_UPLOADS=1 with LAYOUT=single', { LARGE_UPLOADS: '1', LAYOUT: 'single', REDIS_URL: 'redis://10.0.0.9:6379' }, /LAYOUT=cluster/],
  ['PUB_USE_HTTP2=1 with one service', { PUB_USE_HTTP2: '1' }, /WebSocket/],
] as const) {
  test(`cloud-run.sh refuses ${name}`, async (t) => {
    const run = await runScript(t, { env: { DRY_RUN: '1', BUILD: 'none', IMAGE: 'x', ...env } })
    assert.equal(run.code, 2, run.stdout)
    assert.match(run.stderr, mentions)
  })
}
