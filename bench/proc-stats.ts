/**
 * CPU time and resident memory of other processes, read from Linux /proc.
 * The harness measures the server and agent from outside, so their own code
 * carries no benchmark hooks.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

/** Clock ticks per second of /proc/<pid>/stat times (almost always 100). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** User + system CPU time a process has used so far, in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces; fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1000) / clockTicks()
}

/** Current resident set size of a process, in KiB. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (!match) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1])
}

/** Samples RSS of a few processes on an interval and keeps each one's baseline and peak. */
export class RssSampler {
  private readonly baseline = new Map<number, number>()
  private readonly peak = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly pids: readonly number[],
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    for (const pid of this.pids) {
      const rss = rssKiB(pid)
      this.baseline.set(pid, rss)
      this.peak.set(pid, rss)
    }
    this.timer = setInterval(() => this.sample(), this.intervalMs)
  }

  private sample(): void {
    for (const pid of this.pids) {
      try {
        const rss = rssKiB(pid)
        if (rss > (this.peak.get(pid) ?? 0)) this.peak.set(pid, rss)
      } catch {
        // The process ended; its last peak stands.
      }
    }
  }

  /** Stops sampling; returns peak minus baseline per pid, in KiB. */
  stop(): Map<number, { baselineKiB: number; peakKiB: number; growthKiB: number }> {
    clearInterval(this.timer)
    this.sample()
    const out = new Map<number, { baselineKiB: number; peakKiB: number; growthKiB: number }>()
    for (const pid of this.pids) {
      const baselineKiB = this.baseline.get(pid) ?? 0
      const peakKiB = this.peak.get(pid) ?? baselineKiB
      out.set(pid, { baselineKiB, peakKiB, growthKiB: peakKiB - baselineKiB })
    }
    return out
  }
}
