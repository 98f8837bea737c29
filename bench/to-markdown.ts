/**
 * Prints a results JSON (default bench/results/latest.json) as a Markdown
 * table with its machine line, for docs/performance.md:
 *
 *   node dist/bench/to-markdown.js [results.json]
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { formatMarkdown, type BenchReport } from './report.js'

const file = process.argv[2] ?? fileURLToPath(new URL('../../bench/results/latest.json', import.meta.url))
const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport
const m = report.machine
process.stdout.write(
  `Run of ${report.date} (${report.durationSec} s${report.options.quick ? ', --quick' : ''}): ` +
    `${m.cpus} x ${m.cpuModel}, ${m.totalMemMiB} MiB, Linux ${m.kernel}, Node ${m.node}, ${m.loadGenerator}; ` +
    `1-min load average ${report.loadAverage?.start ?? '?'} at start, ${report.loadAverage?.end ?? '?'} at end.\n\n` +
    `${formatMarkdown(report.figures)}\n`,
)
