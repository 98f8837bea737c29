/**
 * What each of adit's features costs: the user's defaults, then each
 * feature off on its own (inspector, metrics, access log), each on a fresh
 * server and agent (variants.ts). Every figure's ratio is against the
 * defaults measured in the same case.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { measureVariants, variantFigures, type Variant } from './variants.js'

/** The user's defaults, then one feature off at a time, by its user-facing switch. */
export const variants: Variant[] = [
  { name: 'defaults', label: 'adit, defaults' },
  { name: 'no-inspector', label: 'without inspector (--no-inspect)', agent: ['--no-inspect'] },
  { name: 'no-metrics', label: 'without metrics (--metrics false)', server: ['--metrics', 'false'] },
  { name: 'no-access-log', label: 'without access log (--log-level warn)', server: ['--log-level', 'warn'] },
]

export async function runFeatures(ctx: BenchContext): Promise<CaseResult> {
  if (ctx.tunnelProblem !== undefined) return { figures: [], details: { skipped: ctx.tunnelProblem } }
  const { results, failed } = await measureVariants(ctx, 'features', variants)
  const figures = variantFigures('features', variants, results)
  if (figures[0]) figures[0].note = 'the adit/direct column of every features row is this variant / the defaults, both measured in this case'
  return { figures, details: { ...results, ...(Object.keys(failed).length > 0 ? { failed } : {}) } }
}
