/**
 * What GET /dashboard/api answers: the tunnels this instance holds agent
 * connections for (and those with requests in the rate window), each with
 * its connections and live request rate.
 */
import type { RecentRequest, RecentRequests } from './recent-requests.js'
import type { RequestRates } from './request-rate.js'

/** The slice of an agent connection the dashboard reads (AgentConnection fits it). */
export interface DashboardConnection {
  readonly tunnelId: string
  readonly number: number
  readonly protocol: string
  readonly connectedAt: number
  readonly session: { readonly activeStreams: number; readonly goingAway: boolean }
}

/** The slice of the tunnel registry the dashboard reads (TunnelRegistry fits it). */
export interface DashboardRegistry {
  connections(): Iterable<DashboardConnection>
}

export interface DashboardTunnel {
  id: string
  connections: Array<{ number: number; protocol: string; connectedAt: string; activeStreams: number; goingAway: boolean }>
  activeStreams: number
  ratePerSecond: number
  perSecond: number[]
  total: number
  errors: number
  lastRequestAt: string | undefined
}

export interface DashboardSnapshot {
  generatedAt: string
  windowSeconds: number
  totals: { tunnels: number; connections: number; activeStreams: number; ratePerSecond: number }
  tunnels: DashboardTunnel[]
  /** The last finished requests on this instance, newest first, with their route and the rule that answered. */
  recent: RecentRequest[]
}

export function dashboardSnapshot(registry: DashboardRegistry, rates: RequestRates, recent: RecentRequests, nowMs: number): DashboardSnapshot {
  const byTunnel = new Map<string, DashboardConnection[]>()
  for (const connection of registry.connections()) {
    let list = byTunnel.get(connection.tunnelId)
    if (list === undefined) byTunnel.set(connection.tunnelId, (list = []))
    list.push(connection)
  }
  for (const id of rates.activeTunnels(nowMs)) if (!byTunnel.has(id)) byTunnel.set(id, [])
  const tunnels: DashboardTunnel[] = []
  for (const [id, connections] of byTunnel) {
    const rate = rates.rate(id, nowMs)
    const activeStreams = connections.reduce((n, c) => n + c.session.activeStreams, 0)
    tunnels.push({
      id,
      connections: connections
        .map((c) => ({
          number: c.number,
          protocol: c.protocol,
          connectedAt: new Date(c.connectedAt).toISOString(),
          activeStreams: c.session.activeStreams,
          goingAway: c.session.goingAway,
        }))
        .sort((a, b) => a.number - b.number),
      activeStreams,
      ratePerSecond: rate.ratePerSecond,
      perSecond: rate.perSecond,
      total: rate.total,
      errors: rate.errors,
      lastRequestAt: rate.lastAt > 0 ? new Date(rate.lastAt).toISOString() : undefined,
    })
  }
  // Busiest first, then by id so the order is stable between refreshes.
  tunnels.sort((a, b) => b.ratePerSecond - a.ratePerSecond || b.connections.length - a.connections.length || a.id.localeCompare(b.id))
  return {
    generatedAt: new Date(nowMs).toISOString(),
    windowSeconds: rates.options.windowSeconds,
    totals: {
      tunnels: tunnels.filter((t) => t.connections.length > 0).length,
      connections: tunnels.reduce((n, t) => n + t.connections.length, 0),
      activeStreams: tunnels.reduce((n, t) => n + t.activeStreams, 0),
      ratePerSecond: Math.round(tunnels.reduce((n, t) => n + t.ratePerSecond, 0) * 10) / 10,
    },
    tunnels,
    recent: recent.list(),
  }
}
