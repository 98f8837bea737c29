/**
 * A figure is one line of the report: a direct value, a tunnelled value, their
 * ratio, and the target it is held to. Targets come from the issue "Fastest
 * tunnel in its class" and live here, in one table, next to how they are judged.
 */

export interface Target {
  /** What is compared: the tunnel/direct ratio, or the tunnelled value itself. */
  on: 'ratio' | 'tunnel'
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
  tunnel: number | null
  /** tunnel / direct, or for figures without a direct side the fraction the case defines. */
  ratio: number | null
  target: Target | null
  /** null when there is no target or no value to judge. */
  met: boolean | null
  note?: string
}

/** The targets of the issue, by figure id. */
export const targets: Record<string, Target> = {
  'get1k.c1.rps': { on: 'ratio', op: '>=', value: 0.5, text: '>= 0.5x direct' },
  'get1k.c100.rps': { on: 'ratio', op: '>=', value: 0.35, text: '>= 0.35x direct' },
  'get1k.c100.p99': { on: 'ratio', op: '<=', value: 3, text: '<= 3x direct p99' },
  'get1k.cpu-per-1000': { on: 'tunnel', op: '<=', value: 250, text: '<= 250 ms' },
  'transfer.download': { on: 'ratio', op: '>=', value: 0.5, text: '>= 0.5x direct' },
  'transfer.upload': { on: 'ratio', op: '>=', value: 0.4, text: '>= 0.4x direct' },
  'mixed.rss.server': { on: 'tunnel', op: '<=', value: 32 * 1024, text: '<= 32 MiB' },
  'mixed.rss.agent': { on: 'tunnel', op: '<=', value: 32 * 1024, text: '<= 32 MiB' },
  'mixed.get1k-fraction': { on: 'ratio', op: '>=', value: 0.5, text: '>= 0.5x alone' },
  'idle.per-tunnel': { on: 'tunnel', op: '<=', value: 40, text: '<= 40 KiB' },
}

function judge(target: Target | null, tunnel: number | null, ratio: number | null): boolean | null {
  if (target === null) return null
  const value = target.on === 'ratio' ? ratio : tunnel
  if (value === null || !Number.isFinite(value)) return null
  return target.op === '>=' ? value >= target.value : value <= target.value
}

export interface FigureInput {
  id: string
  label: string
  unit: string
  direct?: number | null
  tunnel?: number | null
  /** Given for figures whose ratio is not tunnel/direct (the mixed-load fraction). */
  ratio?: number | null
  note?: string
}

/** Builds a figure: computes the ratio when both sides exist, looks up and judges its target. */
export function figure(input: FigureInput): Figure {
  const direct = input.direct ?? null
  const tunnel = input.tunnel ?? null
  const ratio = input.ratio !== undefined ? input.ratio : direct !== null && tunnel !== null && direct !== 0 ? tunnel / direct : null
  const target = targets[input.id] ?? null
  const out: Figure = {
    id: input.id,
    label: input.label,
    unit: input.unit,
    direct,
    tunnel,
    ratio,
    target,
    met: judge(target, tunnel, ratio),
  }
  if (input.note !== undefined) out.note = input.note
  return out
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
