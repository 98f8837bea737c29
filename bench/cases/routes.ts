/**
 * What routing and rules cost per request (issue 15): a tunnel with one
 * origin, then a route table of 50 entries (the request takes the last one:
 * every entry before it is tried), then the same with header rules both
 * ways on that route — end to end on a fresh server and agent each
 * (variants.ts), ratios against the one-origin tunnel. Beside them, the
 * same three in-process (route-cost.ts): nanoseconds of routing work per
 * request, which the end-to-end figures are too coarse to show.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RouteSpec } from '../../src/agent/routes.js'
import type { BenchContext, CaseResult } from '../context.js'
import { figure } from '../figures.js'
import { fifty, measureRouteCost } from '../route-cost.js'
import { measureVariants, variantFigures, type Variant } from './variants.js'

/** Requests per in-process case: bounded, about a second on a slow machine. */
const IN_PROCESS_COUNT = 100_000

/** A config file (JSON is YAML) with 49 routes the request misses, then `last`. */
async function routesConfig(dir: string, name: string, last: RouteSpec): Promise<string> {
  const path = join(dir, `${name}.json`)
  await writeFile(path, JSON.stringify({ routes: fifty(last) }))
  return path
}

export async function runRoutes(ctx: BenchContext): Promise<CaseResult> {
  const inProcess = await measureRouteCost(IN_PROCESS_COUNT)
  const figures = inProcess.map((r, i) =>
    figure({
      id: `routes.in-process.${['none', 'table50', 'table50-rules'][i]}`,
      label: `in-process routing work per request: ${r.case}`,
      unit: 'ns',
      tunnel: r.nsPerRequest,
      ratio: inProcess[0]!.nsPerRequest > 0 ? r.nsPerRequest / inProcess[0]!.nsPerRequest : null,
    }),
  )
  figures[0]!.note = 'in-process: the ratio is this case / the one-origin tunnel; the end-to-end rows below are ratios to the one-origin variant'
  if (ctx.tunnelProblem !== undefined) return { figures, details: { inProcess, skipped: ctx.tunnelProblem } }
  const dir = await mkdtemp(join(tmpdir(), 'adit-bench-routes-'))
  try {
    const local = ctx.local.url
    const rules: RouteSpec = {
      path: '/1k',
      local,
      requestHeaders: { set: { 'X-Client': '${client_ip}' }, add: { 'X-Via': 'adit ${tunnel} ${request_id}' }, remove: ['Cookie'] },
      responseHeaders: { set: { 'X-Frame-Options': 'DENY' }, add: { 'X-Request-Id': '${request_id}' }, remove: ['Server'] },
    }
    const variants: Variant[] = [
      { name: 'one-origin', label: 'adit, one origin (--local)' },
      { name: 'table50', label: '50 routes, the last one taken', agent: ['--config', await routesConfig(dir, 'table50', { path: '/1k', local })] },
      { name: 'table50-rules', label: '50 routes + header rules both ways', agent: ['--config', await routesConfig(dir, 'rules', rules)] },
    ]
    const { results, failed } = await measureVariants(ctx, 'routes', variants)
    figures.push(...variantFigures('routes', variants, results))
    return { figures, details: { inProcess, ...results, ...(Object.keys(failed).length > 0 ? { failed } : {}) } }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
