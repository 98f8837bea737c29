/**
 * Hook for the cross-instance case: a public request that lands on server
 * instance A, served by the agent connected to instance B, over the cluster
 * bus (Redis). It needs two server processes sharing REDIS_URL and a way to
 * pin the public request to A and the agent to B.
 *
 * Not measured yet — this returns no figures rather than made-up ones. To add
 * it: start two servers with the same ADIT_SIGNING_KEY and REDIS_URL, connect
 * the agent to B, point the load generator at A's public URL, and report the
 * same figures as get1k/transfer with the single-instance tunnel as baseline.
 */
import type { BenchContext, CaseResult } from '../context.js'
import { figure } from '../figures.js'

export const CROSS_INSTANCE_STATUS = 'not measured yet: needs two server instances sharing Redis (see bench/cases/cross-instance.ts)'

export async function runCrossInstance(_ctx: BenchContext): Promise<CaseResult> {
  return {
    figures: [figure({ id: 'cross-instance', label: 'cross-instance (A public, B agent)', unit: '', note: CROSS_INSTANCE_STATUS })],
    details: { status: 'not-measured', reason: CROSS_INSTANCE_STATUS },
  }
}
