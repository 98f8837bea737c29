/**
 * Codec micro-benchmark: encode and decode throughput of adit.v2 DATA frames.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/codec.js
 *
 * Encoding copies the payload once into the frame (header and payload share a
 * buffer, one WebSocket message); decoding reads the 5-byte header and returns
 * a view, so its figure is mostly per-frame overhead. Each measurement runs for
 * a fixed time (and at most a fixed number of frames), so the whole run is
 * bounded to a few seconds.
 */
import { performance } from 'node:perf_hooks'
import { decodeFrame, encodeData } from '../src/protocol/index.js'

const SIZES = [1024, 16 * 1024, 64 * 1024] as const
/** Wall time per measurement, after a short warm-up. */
const MEASURE_MS = 400
const WARMUP_MS = 100
/** Hard cap on frames per measurement, whatever the clock says. */
const MAX_FRAMES = 5_000_000

interface Result {
  frames: number
  ms: number
}

/** Runs `op` in batches until `ms` have passed or `MAX_FRAMES` frames were done. */
function timed(ms: number, op: (i: number) => number): Result & { sink: number } {
  let sink = 0
  let frames = 0
  const start = performance.now()
  const deadline = start + ms
  while (frames < MAX_FRAMES) {
    for (let i = 0; i < 256; i++) sink += op(frames + i)
    frames += 256
    if (performance.now() >= deadline) break
  }
  return { frames, ms: performance.now() - start, sink }
}

function mbPerSecond(payloadBytes: number, r: Result): number {
  return (payloadBytes * r.frames) / (1024 * 1024) / (r.ms / 1000)
}

function main(): void {
  const rows: string[] = []
  let sink = 0
  for (const size of SIZES) {
    const payload = Buffer.alloc(size, 0xa5)
    const messages = Array.from({ length: 64 }, (_, i) => encodeData(i + 1, payload))

    const encodeOp = (i: number): number => encodeData(i, payload).length
    sink += timed(WARMUP_MS, encodeOp).sink
    const enc = timed(MEASURE_MS, encodeOp)
    sink += enc.sink

    const decodeOp = (i: number): number => {
      const frame = decodeFrame(messages[i & 63]!)
      return frame.streamId + frame.payload.length
    }
    sink += timed(WARMUP_MS, decodeOp).sink
    const dec = timed(MEASURE_MS, decodeOp)
    sink += dec.sink

    rows.push(
      [
        `${size / 1024} KiB`.padEnd(8),
        `${mbPerSecond(size, enc).toFixed(0).padStart(11)}`,
        `${mbPerSecond(size, dec).toFixed(0).padStart(13)}`,
        `${(enc.frames / (enc.ms / 1000) / 1e6).toFixed(2).padStart(9)}M`,
        `${(dec.frames / (dec.ms / 1000) / 1e6).toFixed(2).padStart(9)}M`,
      ].join('  '),
    )
  }
  process.stdout.write(
    [
      `adit.v2 codec, DATA frames (Node ${process.version}, ${MEASURE_MS} ms per figure; MB = MiB of payload)`,
      'payload      encode MB/s    decode MB/s   encode fps  decode fps',
      ...rows,
      `(checksum ${sink % 1000})`,
      '',
    ].join('\n'),
  )
}

main()
