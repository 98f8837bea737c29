/**
 * Top functions of a V8 CPU profile by self time, for reading the profiles
 * that `--cpu-prof=DIR` writes:
 *
 *   node dist/bench/profile-summary.js DIR/adit-agent-*.cpuprofile [--top=25]
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function summarize(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<string, number>()
  let totalUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]!)
    const delta = profile.timeDeltas[i] ?? 0
    if (!node) continue
    totalUs += delta
    const frame = node.callFrame
    const file = frame.url.replace(/^.*\/(node_modules\/|dist\/)/, '$1')
    const key = `${frame.functionName || '(anonymous)'}  ${file}${file ? `:${frame.lineNumber + 1}` : ''}`
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta)
  }
  const rows = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
  const lines = [`${path}: ${(totalUs / 1000).toFixed(0)} ms sampled`]
  for (const [key, us] of rows) {
    lines.push(`${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`)
  }
  return lines.join('\n')
}

const args = process.argv.slice(2)
const topArg = args.find((a) => a.startsWith('--top='))
const top = topArg ? Number(topArg.slice('--top='.length)) || 25 : 25
const files = args.filter((a) => !a.startsWith('--'))
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile... [--top=N]\n')
  process.exit(2)
}
for (const file of files) process.stdout.write(`${summarize(file, top)}\n\n`)
