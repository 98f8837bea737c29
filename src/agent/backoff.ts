/**
 * Exponential backoff with full jitter (AWS architecture blog): delay is
 * uniform in [0, min(max, base·2^attempt)], so a fleet of agents that lost
 * the same server does not come back in lockstep.
 */
export class Backoff {
  private attempt = 0
  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30))
    this.attempt++
    return Math.floor(this.random() * ceiling)
  }

  reset(): void {
    this.attempt = 0
  }

  get attempts(): number {
    return this.attempt
  }
}
