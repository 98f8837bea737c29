/**
 * A figure is one line of the report: the value on the direct path, through
 * the two reference relays (the limit: two raw TCP hops; the floor: a minimal
 * WebSocket relay) and through adit, the ratios adit/direct and adit/limit,
 * and the target it is held to. Targets come from issue 12 ("ahead of every
 * peer") and live here, in one table, next to how they are judged.
 */

export interface Target {
  /** What is compared: adit/direct (`ratio`), adit/limit (`limit`), or adit's value itself (`tunnel`). */
  on: 'ratio' | 'limit' | 'tunnel'
  op: '>=' | '<='
  value: number
  /** How the report prints it. */
  text: string
}

export interface Figure {
  id: string
  label: string
  unit: string
  direct: number | null
  /** Two raw TCP pipe hops. */
  limit: number | null
  /** A minimal WebSocket relay. */
  floor: number | null
  /** adit. */
  tunnel: number | null
  /** adit / direct, or for figures without a direct side the fraction the case defines. */
  ratio: number | null
  /** adit / limit. */
  vsLimit: number | null
  target: Target | null
  /** null when there is no target or no value to judge. */
  met: boolean | null
  note?: string
}

const MiB = 1024

/** The targets of issue 12, by figure id. */
export const targets: Record<string, Target> = {
  'get1k.c1.rps': { on: 'limit', op: '>=', value: 0.4, text: '>= 0.4x limit' },
  'get1k.c100.rps': { on: 'limit', op: '>=', value: 0.5, text: '>= 0.5x limit' },
  'get1k.c1.spread': { on: 'tunnel', op: '>=', value: 0.8, text: 'median within 25% of best' },
  'get1k.c100.p99': { on: 'ratio', op: '<=', value: 3, text: '<= 3x direct p99' },
  'get1k.c1.cpu': { on: 'limit', op: '<=', value: 4, text: '<= 4x limit' },
  'get1k.c100.cpu': { on: 'limit', op: '<=', value: 2.5, text: '<= 2.5x limit' },
  'transfer.download': { on: 'limit', op: '>=', value: 0.85, text: '>= 0.85x limit' },
  'transfer.upload': { on: 'limit', op: '>=', value: 0.6, text: '>= 0.6x limit' },
  'mixed.rss.server': { on: 'tunnel', op: '<=', value: 32 * MiB, text: '<= 32 MiB' },
  'mixed.rss.agent': { on: 'tunnel', op: '<=', value: 32 * MiB, text: '<= 32 MiB' },
  'mixed.get1k-fraction': { on: 'tunnel', op: '>=', value: 0.5, text: '>= 0.5x alone' },
  'idle.per-tunnel': { on: 'tunnel', op: '<=', value: 40, text: '<= 40 KiB' },
}

function judge(target: Target | null, figure: Pick<Figure, 'tunnel' | 'ratio' | 'vsLimit'>): boolean | null {
  if (target === null) return null
  const value = target.on === 'ratio' ? figure.ratio : target.on === 'limit' ? figure.vsLimit : figure.tunnel
  if (value === null || !Number.isFinite(value)) return null
  return target.op === '>=' ? value >= target.value : value <= target.value
}

export interface FigureInput {
  id: string
  label: string
  unit: string
  direct?: number | null
  limit?: number | null
  floor?: number | null
  tunnel?: number | null
  /** Given for figures whose ratio is not adit/direct. */
  ratio?: number | null
  note?: string
}

function divide(a: number | null, b: number | null): number | null {
  return a !== null && b !== null && b !== 0 ? a / b : null
}

/** Builds a figure: computes the ratios when both sides exist, looks up and judges its target. */
export function figure(input: FigureInput): Figure {
  const direct = input.direct ?? null
  const limit = input.limit ?? null
  const tunnel = input.tunnel ?? null
  const ratio = input.ratio !== undefined ? input.ratio : divide(tunnel, direct)
  const target = targets[input.id] ?? null
  const out: Figure = {
    id: input.id,
    label: input.label,
    unit: input.unit,
    direct,
    limit,
    floor: input.floor ?? null,
    tunnel,
    ratio,
    vsLimit: divide(tunnel, limit),
    target,
    met: null,
  }
  out.met = judge(target, out)
  if (input.note !== undefined) out.note = input.note
  return out
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
