// The container images: both Dockerfiles are read with a small parser and
// checked for what production needs (non-root, production dependencies only,
// a CMD that names a file the build produces, a working health check).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { posix } from 'node:path'
import { cliMissingReason, repoPath } from './repo.js'
import { execForm, last, parseDockerfile, parseHealthcheck, parseInstructions, type Dockerfile, type Stage } from './dockerfile-parser.js'

interface ImageSpec {
  file: string
  subcommand: string
}

const images: ImageSpec[] = [
  { file: 'Dockerfile', subcommand: 'server' },
  { file: 'Dockerfile.agent', subcommand: 'agent' },
]

function load(file: string): Dockerfile {
  return parseDockerfile(readFileSync(repoPath(file), 'utf8'))
}

function finalStage(dockerfile: Dockerfile): Stage {
  const stage = dockerfile.stages.at(-1)
  assert.ok(stage, 'no FROM at all')
  return stage
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args)
}

/** Splits COPY arguments into flags, sources and destination. */
function copyParts(args: string): { flags: Map<string, string>; sources: string[]; dest: string } {
  const words = args.split(/\s+/)
  const flags = new Map<string, string>()
  while (words[0]?.startsWith('--')) {
    const [name, value] = words.shift()!.slice(2).split('=', 2)
    flags.set(name!, value ?? '')
  }
  const dest = words.pop()
  assert.ok(dest !== undefined && words.length > 0, `COPY needs sources and a destination: ${args}`)
  return { flags, sources: words, dest }
}

function workdir(stage: Stage): string {
  return last(stage, 'WORKDIR')?.args ?? '/'
}

for (const { file, subcommand } of images) {
  test(`${file}: multi-stage build on Node 24 LTS`, () => {
    const dockerfile = load(file)
    assert.ok(dockerfile.stages.length >= 2, 'a builder stage and a runtime stage')
    for (const stage of dockerfile.stages) {
      assert.match(stage.from, /^node:24-(bookworm-slim|alpine)(@sha256:[0-9a-f]{64})?$/, `stage ${stage.name ?? '?'} base`)
    }
  })

  test(`${file}: the builder installs everything and compiles`, () => {
    const builder = load(file).stages[0]!
    const commands = runs(builder).join('\n')
    assert.match(commands, /\bnpm ci\b/)
    assert.match(commands, /\bnpm run build\b|\btsc\b/)
  })

  test(`${file}: the runtime stage has production dependencies and the compiled output only`, () => {
    const dockerfile = load(file)
    const runtime = finalStage(dockerfile)
    const install = runs(runtime).find((r) => /\bnpm ci\b/.test(r))
    assert.ok(install, 'npm ci in the runtime stage')
    assert.match(install, /--omit=dev\b/)
    // prepare would run tsc, which --omit=dev leaves out.
    assert.match(install, /--ignore-scripts\b/)
    assert.doesNotMatch(runs(runtime).join('\n'), /npm run build|\btsc\b/)
    const builderNames = new Set(dockerfile.stages.slice(0, -1).map((s, i) => s.name ?? String(i)))
    const fromBuilder = runtime.instructions
      .filter((i) => i.keyword === 'COPY')
      .map((i) => copyParts(i.args))
      .filter((c) => builderNames.has(c.flags.get('from') ?? ''))
    assert.ok(
      fromBuilder.some((c) => c.sources.some((s) => /(^|\/)dist(\/src)?\/?$/.test(s))),
      'compiled dist copied from the builder',
    )
  })

  test(`${file}: the final stage does not run as root`, () => {
    const user = last(finalStage(load(file)), 'USER')
    assert.ok(user, 'USER in the final stage')
    const name = user.args.split(':')[0]!.trim()
    assert.notEqual(name, '')
    assert.notEqual(name, 'root')
    assert.notEqual(name, '0')
  })

  test(`${file}: CMD is exec form and runs \`node <cli> ${subcommand}\` from a copied path`, () => {
    const runtime = finalStage(load(file))
    assert.equal(last(runtime, 'ENTRYPOINT'), undefined, 'no ENTRYPOINT: CMD is the whole command line')
    const cmd = last(runtime, 'CMD')
    assert.ok(cmd, 'CMD in the final stage')
    const argv = execForm(cmd.args)
    assert.ok(argv, `CMD must be exec form (JSON array) so node is PID 1 and gets SIGTERM: ${cmd.args}`)
    assert.equal(argv[0], 'node')
    assert.equal(argv[1], 'dist/src/bin.js')
    assert.equal(argv[2], subcommand)
    // The CLI file must come into the image through a COPY below WORKDIR.
    const cli = posix.resolve(workdir(runtime), argv[1]!)
    const copied = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => posix.resolve(workdir(runtime), copyParts(i.args).dest))
    assert.ok(
      copied.some((dest) => cli.startsWith(dest.endsWith('/') ? dest : dest + '/')),
      `${cli} is under no COPY destination (${copied.join(', ')})`,
    )
  })

  test(`${file}: the CMD's file exists in the built package`, (t) => {
    const reason = cliMissingReason()
    if (reason !== undefined) {
      t.skip(reason)
      return
    }
    const argv = execForm(last(finalStage(load(file)), 'CMD')!.args)!
    assert.ok(existsSync(repoPath(argv[1]!)), `${argv[1]} missing: run \`npx tsc -p tsconfig.json\``)
  })

  test(`${file}: declares a HEALTHCHECK and stops with SIGTERM`, () => {
    const runtime = finalStage(load(file))
    const healthcheck = last(runtime, 'HEALTHCHECK')
    assert.ok(healthcheck, 'HEALTHCHECK in the final stage')
    const parsed = parseHealthcheck(healthcheck.args)
    if (parsed.command !== 'none') {
      assert.equal(parsed.command[0], 'node', 'slim images have no curl: the check runs node')
    }
    const stop = last(runtime, 'STOPSIGNAL')
    assert.ok(stop === undefined || stop.args === 'SIGTERM')
  })
}

test('Dockerfile (server): listens on PORT 8080 and exposes it', () => {
  const runtime = finalStage(load('Dockerfile'))
  const env = runtime.instructions
    .filter((i) => i.keyword === 'ENV')
    .map((i) => i.args)
    .join(' ')
  assert.match(env, /\bPORT=8080\b/)
  assert.ok(runtime.instructions.some((i) => i.keyword === 'EXPOSE' && i.args.split(/\s+/).includes('8080')))
})

// ---- the server's HEALTHCHECK command, run for real ----------------------------

function serverHealthcheck(): string[] {
  const parsed = parseHealthcheck(last(finalStage(load('Dockerfile')), 'HEALTHCHECK')!.args)
  assert.notEqual(parsed.command, 'none')
  return parsed.command as string[]
}

function runHealthcheck(port: number): Promise<number | null> {
  const [command, ...args] = serverHealthcheck()
  assert.equal(command, 'node')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: 'ignore' })
    child.once('error', reject)
    child.once('exit', (code) => resolve(code))
  })
}

async function listen(handler: (path: string | undefined) => number): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = []
  const server = createServer((req, res) => {
    paths.push(req.url ?? '')
    res.statusCode = handler(req.url)
    res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port, paths }
}

test('Dockerfile (server): the HEALTHCHECK command passes on 200 from /healthz', async (t) => {
  const { server, port, paths } = await listen(() => 200)
  t.after(() => server.close())
  assert.equal(await runHealthcheck(port), 0)
  assert.deepEqual(paths, ['/healthz'])
})

test('Dockerfile (server): the HEALTHCHECK command fails on a non-2xx answer', async (t) => {
  const { server, port } = await listen(() => 503)
  t.after(() => server.close())
  assert.equal(await runHealthcheck(port), 1)
})

test('Dockerfile (server): the HEALTHCHECK command fails when nothing listens', async () => {
  // A port that was just free: bind, read, close, then probe it.
  const { server, port } = await listen(() => 200)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  assert.equal(await runHealthcheck(port), 1)
})

// ---- build context -------------------------------------------------------------

function globToRegExp(glob: string): RegExp {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*'
      i++
      if (glob[i + 1] === '/') i++
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}(/.*)?$`)
}

/** Docker's rule: the last matching pattern decides; `!` re-includes. */
function inContext(patterns: string[], path: string): boolean {
  let included = true
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!')
    const glob = (negated ? pattern.slice(1) : pattern).replace(/^\/+/, '')
    if (globToRegExp(glob).test(path)) included = negated
  }
  return included
}

test('.dockerignore keeps every COPY source in the context and leaves the rest out', () => {
  const patterns = readFileSync(repoPath('.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  for (const { file } of images) {
    for (const stage of load(file).stages) {
      for (const copy of stage.instructions.filter((i) => i.keyword === 'COPY')) {
        const { flags, sources } = copyParts(copy.args)
        if (flags.has('from')) continue
        for (const source of sources) {
          const sample = source === 'src' || source.endsWith('/') ? posix.join(source, 'index.ts') : source
          assert.ok(inContext(patterns, sample), `${file}: COPY ${source} is excluded by .dockerignore`)
        }
      }
    }
  }
  for (const outside of ['node_modules/ws/index.js', 'dist/src/bin.js', '.git/config', 'test/unit/x.test.ts', '.env']) {
    assert.equal(inContext(patterns, outside), false, `${outside} should not be sent to the builder`)
  }
})

// ---- the parser itself -----------------------------------------------------------

test('Dockerfile parser: continuations, comments inside them, ARG defaults in FROM', () => {
  const parsed = parseDockerfile(
    [
      '# syntax=docker/dockerfile:1',
      'ARG BASE=node:24-bookworm-slim',
      'FROM ${BASE} AS build',
      'RUN a \\',
      '  # a comment line',
      '  && b',
      'FROM $BASE',
      'CMD ["node", "x.js"]',
      '',
    ].join('\n'),
  )
  assert.equal(parsed.stages.length, 2)
  assert.equal(parsed.stages[0]!.name, 'build')
  assert.equal(parsed.stages[1]!.from, 'node:24-bookworm-slim')
  assert.deepEqual(
    parsed.stages[0]!.instructions.map((i) => i.args),
    ['a && b'],
  )
  assert.deepEqual(execForm(parsed.stages[1]!.instructions[0]!.args), ['node', 'x.js'])
  assert.equal(execForm('node x.js'), undefined)
})

test('Dockerfile parser: rejects broken input', () => {
  assert.throws(() => parseInstructions('RUN a \\'), /continuation/)
  assert.throws(() => parseDockerfile('RUN a\nFROM x'), /before the first FROM/)
  assert.throws(() => parseDockerfile('FROM ${NOPE}'), /undeclared ARG/)
  assert.throws(() => parseHealthcheck('--interval=5s curl x'), /without CMD or NONE/)
})

test('each build stage copies in every script its `npm run build` runs before running it', () => {
  const build = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.build!
  const scripts = [...build.matchAll(/node (scripts\/[\w.-]+)/g)].map((m) => m[1]!)
  assert.ok(scripts.length > 0, `no script in ${build}`)
  for (const { file } of images) {
    for (const stage of load(file).stages) {
      const at = stage.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args))
      if (at < 0) continue
      const copied = stage.instructions
        .slice(0, at)
        .filter((i) => i.keyword === 'COPY')
        .flatMap((i) => copyParts(i.args).sources)
      for (const script of scripts) {
        assert.ok(
          copied.some((source) => source === script || script.startsWith(source.endsWith('/') ? source : `${source}/`)),
          `${file}: npm run build runs ${script}, which is not copied in before it`,
        )
      }
    }
  }
})
