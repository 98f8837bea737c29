/**
 * Receive-window autotuning: a stream whose sender says it ran out of
 * credit (FLAG_BLOCKED, `window-blocked`) while its destination keeps up
 * doubles its window up to MAX_STREAM_WINDOW, within the connection's
 * budget; a slow destination, a slow source or a sender that does not
 * speak the feature never grows it.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  decodeFrame,
  FLAG_BLOCKED,
  MAX_STREAM_WINDOW,
  sessionDefaults,
  type RequestHead,
  type Stream,
  type StreamHandler,
} from '../../../src/protocol/index.js'
import { RecordingHandler, sessionPair } from './memory-transport.js'

const POST: RequestHead = { method: 'POST', path: '/upload', headers: [] }
const MiB = 1024 * 1024
const BUDGET = 32 * MiB

/** An agent-side destination that takes every byte at once (a fast local service). */
class FastDestination implements StreamHandler {
  received = 0
  constructor(readonly stream: Stream) {}
  onData(chunk: Buffer): void {
    this.received += chunk.length
    this.stream.consumed(chunk.length)
  }
  onEnd(): void {}
  onReset(): void {}
  onDrain(): void {}
}

/** One that takes bytes only when the test says so (a slow client). */
class SlowDestination implements StreamHandler {
  unconsumed = 0
  constructor(readonly stream: Stream) {}
  onData(chunk: Buffer): void {
    this.unconsumed += chunk.length
  }
  drain(): void {
    const n = this.unconsumed
    this.unconsumed = 0
    this.stream.consumed(n)
  }
  onEnd(): void {}
  onReset(): void {}
  onDrain(): void {}
}

function pair(kind: 'fast' | 'slow', budget = BUDGET, windowBlocked = true) {
  const streams: Stream[] = []
  const destinations: Array<FastDestination | SlowDestination> = []
  const p = sessionPair(
    {
      streamWindow: sessionDefaults.streamWindow,
      windowGrowthBudget: budget,
      onStream(stream) {
        streams.push(stream)
        const d = kind === 'fast' ? new FastDestination(stream) : new SlowDestination(stream)
        destinations.push(d)
        return d
      },
    },
    { streamWindow: sessionDefaults.streamWindow, windowBlocked },
  )
  return { ...p, streams, destinations }
}

describe('receive window autotuning', () => {
  it('a window-limited sender with a fast destination grows the window to the maximum', () => {
    const p = pair('fast')
    const sender = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    const windows: number[] = []
    // A bulk sender always has more than its credit to send.
    for (let i = 0; i < 10; i++) {
      sender.write(Buffer.alloc(16 * MiB))
      p.pump()
      windows.push(p.streams[0]!.recvWindowLimit)
    }
    assert.equal((p.destinations[0] as FastDestination).received, 160 * MiB, 'every byte arrived')
    assert.equal(windows.at(-1), MAX_STREAM_WINDOW, `windows: ${windows.map((w) => w / MiB).join(',')} MiB`)
    assert.ok(
      windows.every((w, i) => i === 0 || w === windows[i - 1] || w === 2 * windows[i - 1]!),
      'it doubles',
    )
  })

  it('a destination that backs up keeps the window where it is', () => {
    const p = pair('slow')
    const sender = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    for (let i = 0; i < 40; i++) {
      sender.write(Buffer.alloc(MiB))
      p.pump()
      ;(p.destinations[0] as SlowDestination).drain()
      p.pump()
    }
    assert.equal(p.streams[0]!.recvWindowLimit, sessionDefaults.streamWindow)
  })

  it('a sender that has credit left (a slow source) does not grow it', () => {
    const p = pair('fast')
    const sender = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    for (let i = 0; i < 200; i++) {
      sender.write(Buffer.alloc(128 * 1024))
      p.pump()
    }
    assert.equal(p.streams[0]!.recvWindowLimit, sessionDefaults.streamWindow)
  })

  it('the streams of a connection grow within its budget, which a finished stream gives back', () => {
    const budget = 12 * MiB
    const p = pair('fast', budget)
    const senders = Array.from({ length: 4 }, () => p.server.openStream(POST, new RecordingHandler())!)
    p.pump()
    for (let i = 0; i < 10; i++) {
      for (const s of senders) s.write(Buffer.alloc(16 * MiB))
      p.pump()
    }
    const grown = p.streams.reduce((sum, s) => sum + s.grownWindow, 0)
    assert.ok(grown <= budget, `${grown / MiB} MiB grown, budget ${budget / MiB} MiB`)
    assert.ok(grown >= budget - sessionDefaults.streamWindow * 4, 'the budget is used')
    for (const s of senders) s.end()
    p.pump()
    for (const s of p.streams) s.end()
    p.pump()
    const next = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    for (let i = 0; i < 10; i++) {
      next.write(Buffer.alloc(16 * MiB))
      p.pump()
    }
    assert.equal(p.streams.at(-1)!.recvWindowLimit, MAX_STREAM_WINDOW, 'the budget came back')
  })

  it('a sender without window-blocked never flags, so the window stays', () => {
    const p = pair('fast', BUDGET, false)
    const sender = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    for (let i = 0; i < 20; i++) {
      sender.write(Buffer.alloc(MiB))
      p.pump()
    }
    assert.ok(!p.serverTransport.log.some((f) => (f[0]! & FLAG_BLOCKED) !== 0), 'no FLAG_BLOCKED')
    assert.equal(p.streams[0]!.recvWindowLimit, sessionDefaults.streamWindow)
  })

  it('only the DATA frame that spends the last credit of a body that goes on is flagged', () => {
    const p = pair('slow')
    const sender = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    sender.write(Buffer.alloc(3 * MiB))
    p.pump()
    const flagged = p.serverTransport.log.map(decodeFrame).filter((f) => f.blocked)
    assert.equal(flagged.length, 1)
    assert.equal(p.streams[0]!.heldFrames > 0, true)
  })

  it('without a budget (the protocol default) windows never grow', () => {
    const p = pair('fast', 0)
    const sender = p.server.openStream(POST, new RecordingHandler())!
    p.pump()
    for (let i = 0; i < 20; i++) {
      sender.write(Buffer.alloc(MiB))
      p.pump()
    }
    assert.equal(p.streams[0]!.recvWindowLimit, sessionDefaults.streamWindow)
  })
})
