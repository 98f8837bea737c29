/**
 * What the agent does after a failed attempt to reach the server (`POST
 * /register` or the `/ws` upgrade): wait and retry, and why, or stop for
 * good. Pure: the tunnel owns the timers.
 */

/** Why the agent is waiting. Credentials refused is not here: it is final. */
export const WaitReason = {
  /** No answer at all: connection refused, DNS, timeout. */
  UNREACHABLE: 'unreachable',
  /** 429: the server asked us to slow down (Retry-After honoured). */
  RATE_LIMITED: 'rate-limited',
  /** 5xx: the server (or a proxy in front of it) is up but not serving yet. */
  UNAVAILABLE: 'unavailable',
} as const
export type WaitReason = (typeof WaitReason)[keyof typeof WaitReason]

/** The agent is waiting for the server; emitted once per change of `reason`. */
export interface WaitState {
  reason: WaitReason
  /** One line for a person: what failed and what the agent does about it. */
  message: string
  /** Delay before the next attempt (ms). */
  retryInMs: number
}

/** A failed attempt, as the agent saw it. `status` 0: no HTTP answer. */
export interface AttemptFailure {
  status: number
  /** What the server's Retry-After asked for (ms), when it sent one. */
  retryAfterMs?: number | undefined
  /** The error or the answer's text, for the message. */
  detail: string
  /** The server's error code (`{"error": "ADIT_ERR_…"}`), when it sent one. */
  code?: string | undefined
}

export type Verdict = { retry: true; reason: WaitReason; minDelayMs: number } | { retry: false }

/**
 * Retry on no answer, 429, 408 and 5xx; stop on every other answer (401/403
 * credentials refused, 409 name taken, 400 bad request …): retrying cannot
 * change those, the user has to.
 */
export function verdictFor(failure: AttemptFailure): Verdict {
  const { status } = failure
  const minDelayMs = failure.retryAfterMs ?? 0
  if (status === 0) return { retry: true, reason: WaitReason.UNREACHABLE, minDelayMs }
  // The per-key tunnel cap is a 429 too, but waiting does not lift it: a person must delete a tunnel.
  if (failure.code === 'ADIT_ERR_TOO_MANY_TUNNELS') return { retry: false }
  if (status === 429) return { retry: true, reason: WaitReason.RATE_LIMITED, minDelayMs }
  if (status === 408 || status >= 500) return { retry: true, reason: WaitReason.UNAVAILABLE, minDelayMs }
  return { retry: false }
}

/** The delay before the next attempt: the back-off's, but never sooner than Retry-After (plus ≤10% jitter so a fleet does not return in step). */
export function nextDelay(backoffMs: number, minDelayMs: number, random: () => number = Math.random): number {
  if (minDelayMs <= 0) return backoffMs
  return Math.max(backoffMs, Math.round(minDelayMs * (1 + random() * 0.1)))
}

/** `Retry-After` (seconds or an HTTP date) → milliseconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(text)) return Math.min(Number(text) * 1000, 3600_000)
  const date = Date.parse(text)
  if (Number.isNaN(date)) return undefined
  return Math.min(Math.max(0, date - now), 3600_000)
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`
}

/** The line a person reads when the agent starts waiting for `reason`. */
export function waitMessage(server: string, failure: AttemptFailure, reason: WaitReason, retryInMs: number): string {
  switch (reason) {
    case WaitReason.UNREACHABLE:
      return `server ${server} unreachable (${failure.detail}); waiting for it, retrying with back-off`
    case WaitReason.RATE_LIMITED:
      return `rate limited by ${server} (429${failure.retryAfterMs !== undefined ? `, Retry-After ${seconds(failure.retryAfterMs)}` : ''}); retrying in ${seconds(retryInMs)}`
    case WaitReason.UNAVAILABLE:
      return `server ${server} not serving yet (${failure.status}${failure.detail ? `: ${failure.detail}` : ''}); retrying in ${seconds(retryInMs)}`
  }
}
