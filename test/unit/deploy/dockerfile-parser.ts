// A small Dockerfile reader for the deploy tests: instructions with their
// arguments, grouped into build stages. It handles what our Dockerfiles use
// (comments, parser directives, backslash continuations, exec-form JSON,
// ARG defaults in FROM) and nothing more; it is not BuildKit's parser.

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, CMD … */
  keyword: string
  /** Everything after the keyword, continuations joined with a space. */
  args: string
  /** 1-based line of the keyword. */
  line: number
}

export interface Stage {
  /** The image reference after FROM, with ARG defaults substituted. */
  from: string
  /** Name given with `AS`, if any. */
  name: string | undefined
  instructions: Instruction[]
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string>
  stages: Stage[]
}

export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = []
  const lines = text.split('\n')
  let pending = ''
  let startLine = 0
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '')
    const trimmed = raw.trim()
    // Comment lines (and parser directives, which look like comments) are
    // dropped, also inside a continued instruction, as Docker does.
    if (trimmed.startsWith('#')) continue
    if (pending === '' && trimmed === '') continue
    if (pending === '') startLine = i + 1
    if (trimmed.endsWith('\\')) {
      pending += trimmed.slice(0, -1).trim() + ' '
      continue
    }
    pending += trimmed
    const match = /^(\S+)\s*(.*)$/s.exec(pending.trim())
    if (match !== null) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: startLine })
    pending = ''
  }
  if (pending.trim() !== '') throw new Error(`dangling line continuation at line ${startLine}`)
  return out
}

function substitute(value: string, args: Map<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!
    const found = args.get(name)
    if (found === undefined) throw new Error(`FROM uses undeclared ARG ${name}`)
    return found
  })
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string>()
  const stages: Stage[] = []
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const parts = instruction.args.split(/\s+/).filter((p) => !p.startsWith('--platform='))
      const asIndex = parts.findIndex((p) => p.toUpperCase() === 'AS')
      stages.push({
        from: substitute(parts[0]!, globalArgs),
        name: asIndex >= 0 ? parts[asIndex + 1] : undefined,
        instructions: [],
      })
      continue
    }
    const stage = stages.at(-1)
    if (stage === undefined) {
      if (instruction.keyword !== 'ARG') throw new Error(`${instruction.keyword} before the first FROM (line ${instruction.line})`)
      const [name, value] = instruction.args.split('=', 2)
      globalArgs.set(name!.trim(), (value ?? '').trim())
      continue
    }
    stage.instructions.push(instruction)
  }
  return { globalArgs, stages }
}

/** The JSON array of an exec-form instruction (CMD ["a","b"]), or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  const parsed: unknown = JSON.parse(args)
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) return undefined
  return parsed as string[]
}

/** Last instruction with this keyword in a stage (Docker keeps the last CMD, USER, HEALTHCHECK …). */
export function last(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1)
}

/**
 * Splits `HEALTHCHECK [--opt=v …] CMD …` into its options and command, or
 * `none` for `HEALTHCHECK NONE`.
 */
export function parseHealthcheck(args: string): { options: Map<string, string>; command: string[] | 'none' } {
  const options = new Map<string, string>()
  let rest = args
  for (;;) {
    const match = /^--([a-z-]+)=(\S+)\s+/.exec(rest)
    if (match === null) break
    options.set(match[1]!, match[2]!)
    rest = rest.slice(match[0].length)
  }
  if (/^NONE$/i.test(rest.trim())) return { options, command: 'none' }
  const cmd = /^CMD\s+(.*)$/is.exec(rest)
  if (cmd === null) throw new Error(`HEALTHCHECK without CMD or NONE: ${args}`)
  const exec = execForm(cmd[1]!.trim())
  return { options, command: exec ?? ['/bin/sh', '-c', cmd[1]!.trim()] }
}
