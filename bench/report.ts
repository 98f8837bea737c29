/**
 * The two outputs of a run: a plain-text table for people (stdout) and a
 * JSON document for machines and for docs/performance.md.
 */
import { cpus, loadavg, release, totalmem } from 'node:os'
import { createRequire } from 'node:module'
import type { Figure } from './figures.js'
import type { BenchOptions } from './options.js'

export interface MachineInfo {
  cpuModel: string
  cpus: number
  totalMemMiB: number
  node: string
  platform: string
  arch: string
  kernel: string
  loadGenerator: string
}

/** The 1-minute load average, rounded. */
export function loadAverage1m(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100
}

export function machineInfo(): MachineInfo {
  const list = cpus()
  let autocannonVersion = 'unknown'
  try {
    const require = createRequire(import.meta.url)
    autocannonVersion = (require('autocannon/package.json') as { version: string }).version
  } catch {
    // The version is informative only.
  }
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cpus: list.length,
    totalMemMiB: Math.round(totalmem() / (1024 * 1024)),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    loadGenerator: `autocannon ${autocannonVersion} (own child process)`,
  }
}

export interface BenchReport {
  schema: 1
  date: string
  durationSec: number
  machine: MachineInfo
  /** 1-minute load average when the run started and ended: other work on the machine skews every figure. */
  loadAverage: { start: number; end: number }
  options: BenchOptions
  tunnel: { measured: boolean; bin: string; problem: string | null }
  figures: Figure[]
  details: Record<string, unknown>
  /** Cases that threw; their error is in `details[name].failed`. */
  failures: string[]
}

function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '-'
  if (unit === 'ms') return value < 10 ? value.toFixed(2) : value.toFixed(1)
  if (unit === 'MiB/s') return value.toFixed(1)
  if (unit === 'req/s' || unit === 'KiB') return value >= 100 ? Math.round(value).toString() : value.toFixed(1)
  return value.toFixed(2)
}

function withUnit(value: number | null, unit: string): string {
  const text = formatValue(value, unit)
  return text === '-' || unit === '' ? text : `${text} ${unit}`
}

const HEADER = ['figure', 'direct', 'limit', 'floor', 'adit', 'adit/direct', 'adit/limit', 'target', 'met?']

const times = (value: number | null): string => (value === null || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}x`)

function cells(f: Figure): string[] {
  return [
    f.label,
    withUnit(f.direct, f.unit),
    withUnit(f.limit, f.unit),
    withUnit(f.floor, f.unit),
    withUnit(f.tunnel, f.unit),
    times(f.ratio),
    times(f.vsLimit),
    f.target?.text ?? '',
    f.met === null ? (f.target ? '?' : '') : f.met ? 'yes' : 'NO',
  ]
}

/** The same table as Markdown, for docs/performance.md. */
export function formatMarkdown(figures: readonly Figure[]): string {
  const row = (c: string[]): string => `| ${c.map((x) => x.trim().replace(/\|/g, '\\|')).join(' | ')} |`
  const out = [row(HEADER), row(HEADER.map(() => '---')), ...figures.map((f) => row(cells(f)))]
  const notes = figures.filter((f) => f.note !== undefined).map((f) => `- ${f.label.trim()}: ${f.note}`)
  if (notes.length > 0) out.push('', ...notes)
  return out.join('\n')
}

/** A fixed-width table: figure, direct, limit, floor, adit, the two ratios, target, met?; notes follow it. */
export function formatTable(figures: readonly Figure[]): string {
  const header = HEADER
  const rows = figures.map(cells)
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)]
  const notes = figures.filter((f) => f.note !== undefined).map((f) => `  ${f.label.trim()}: ${f.note}`)
  if (notes.length > 0) out.push('', 'notes:', ...notes)
  return out.join('\n')
}
