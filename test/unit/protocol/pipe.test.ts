/**
 * The one flow-control pipe (src/protocol/pipe.ts): credit goes back only
 * once the destination took the bytes. Driven by hand (a destination that
 * fills on command, a scheduler the test runs), chaotically with fast-check,
 * and over a real server/agent session pair on the in-memory transport.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { INITIAL_WINDOW, Pipe, VIEW_AT_LEAST, type RequestHead, type Stream } from '../../../src/protocol/index.js'
import { RecordingHandler, sessionPair } from './memory-transport.js'

/** A destination that is full whenever the test says, keeping (copies of) what it took. */
class Destination {
  full = false
  destroyed = false
  writes = 0
  readonly taken: Buffer[] = []
  write(chunk: Buffer): boolean {
    this.writes++
    this.taken.push(Buffer.from(chunk))
    return !this.full
  }
  get bytes(): Buffer {
    return Buffer.concat(this.taken)
  }
}

/** Counts credit returned. */
class Credit {
  returned = 0
  calls = 0
  consumed(n: number): void {
    this.returned += n
    this.calls++
  }
}

/** A scheduler the test runs: tasks queue until `run`. */
class Tasks {
  private queue: Array<() => void> = []
  readonly schedule = (task: () => void): void => {
    this.queue.push(task)
  }
  get pending(): number {
    return this.queue.length
  }
  run(): void {
    const tasks = this.queue
    this.queue = []
    for (const task of tasks) task()
  }
}

describe('Pipe: writes as chunks come (no scheduler)', () => {
  it('returns credit at once when the destination took the bytes', () => {
    const credit = new Credit()
    const destination = new Destination()
    const pipe = new Pipe({ source: credit, destination })
    pipe.push(Buffer.from('hello'))
    assert.equal(credit.returned, 5)
    assert.equal(pipe.owed, 0)
    assert.equal(destination.bytes.toString(), 'hello')
  })

  it('withholds credit while the destination is full, and returns all of it on drained()', () => {
    const credit = new Credit()
    const destination = new Destination()
    const pipe = new Pipe({ source: credit, destination })
    destination.full = true
    pipe.push(Buffer.alloc(100))
    pipe.push(Buffer.alloc(50))
    assert.equal(credit.returned, 0, 'no credit for bytes the destination did not take')
    assert.equal(pipe.owed, 150)
    assert.equal(destination.writes, 2, 'the bytes are still handed on (the destination buffers them)')
    destination.full = false
    pipe.drained()
    assert.equal(credit.returned, 150)
    assert.equal(credit.calls, 1, 'one credit call per drain, not per chunk')
    assert.equal(pipe.owed, 0)
  })

  it('with no destination drops the bytes and returns their credit (a request with no body to deliver)', () => {
    const credit = new Credit()
    const pipe = new Pipe({ source: credit })
    pipe.push(Buffer.alloc(7))
    assert.equal(credit.returned, 7)
  })

  it('keeps owed credit until a source is set (a stream that is being replaced)', () => {
    const destination = new Destination()
    const pipe = new Pipe({ destination })
    destination.full = true
    pipe.push(Buffer.alloc(10))
    pipe.drained()
    assert.equal(pipe.owed, 10)
    const credit = new Credit()
    pipe.source = credit
    pipe.drained()
    assert.equal(credit.returned, 10)
  })
})

describe('Pipe: batching (with a scheduler)', () => {
  it('chunks that arrive before the scheduled task are one batch, credited once', () => {
    const tasks = new Tasks()
    const credit = new Credit()
    const destination = new Destination()
    const pipe = new Pipe({ source: credit, destination, schedule: tasks.schedule })
    for (let i = 0; i < 100; i++) pipe.push(Buffer.from([i]))
    assert.equal(tasks.pending, 1, 'one task for the whole batch, not one per chunk')
    assert.equal(destination.writes, 0)
    assert.equal(pipe.held, 100)
    tasks.run()
    assert.equal(destination.writes, 1, '100 one-byte frames become one write')
    assert.deepEqual(
      [...destination.bytes],
      Array.from({ length: 100 }, (_, i) => i),
    )
    assert.equal(credit.returned, 100)
    assert.equal(credit.calls, 1)
  })

  it('holds bytes while the destination is full and writes them on drained()', () => {
    const tasks = new Tasks()
    const credit = new Credit()
    const destination = new Destination()
    const pipe = new Pipe({ source: credit, destination, schedule: tasks.schedule })
    destination.full = true
    pipe.push(Buffer.from('first'))
    tasks.run()
    assert.equal(pipe.owed, 5)
    pipe.push(Buffer.from('second'))
    assert.equal(tasks.pending, 0, 'nothing is scheduled while credit is owed: the drain writes')
    tasks.run()
    assert.equal(destination.writes, 1)
    assert.equal(pipe.held, 6)
    destination.full = false
    pipe.drained()
    assert.equal(destination.bytes.toString(), 'firstsecond')
    assert.equal(credit.returned, 11)
    assert.equal(pipe.owed, 0)
  })

  it('flush() writes at once (before the destination is ended)', () => {
    const tasks = new Tasks()
    const destination = new Destination()
    const credit = new Credit()
    const pipe = new Pipe({ source: credit, destination, schedule: tasks.schedule })
    pipe.push(Buffer.from('tail'))
    pipe.flush()
    assert.equal(destination.bytes.toString(), 'tail')
    tasks.run()
    assert.equal(destination.writes, 1, 'the scheduled task finds nothing left to write')
    assert.equal(credit.returned, 4)
  })

  it('after close() nothing is written; credit owed still goes back on drained()', () => {
    const tasks = new Tasks()
    const destination = new Destination()
    const credit = new Credit()
    const pipe = new Pipe({ source: credit, destination, schedule: tasks.schedule })
    destination.full = true
    pipe.push(Buffer.alloc(3))
    tasks.run()
    pipe.push(Buffer.alloc(4))
    pipe.close()
    pipe.push(Buffer.alloc(5))
    destination.full = false
    pipe.drained()
    tasks.run()
    assert.equal(destination.writes, 1)
    assert.equal(pipe.held, 0)
    assert.equal(credit.returned, 3)
  })

  it('does not write to a destroyed destination', () => {
    const tasks = new Tasks()
    const destination = new Destination()
    const pipe = new Pipe({ source: new Credit(), destination, schedule: tasks.schedule })
    pipe.push(Buffer.alloc(3))
    destination.destroyed = true
    tasks.run()
    assert.equal(destination.writes, 0)
  })
})

/** One step of a chaotic run: a chunk arrives, the destination fills or empties, it drains, the scheduler runs. */
const step = fc.oneof(
  fc.record({ kind: fc.constant('chunk' as const), size: fc.integer({ min: 0, max: 70_000 }) }),
  fc.record({ kind: fc.constant('full' as const), full: fc.boolean() }),
  fc.record({ kind: fc.constant('drain' as const) }),
  fc.record({ kind: fc.constant('tick' as const) }),
)

describe('Pipe: chaotic interleavings (fast-check)', () => {
  for (const batched of [false, true]) {
    it(`${batched ? 'batched' : 'direct'}: bytes arrive intact and in order, credit never runs ahead of the destination, and all of it comes back`, () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
          const tasks = new Tasks()
          const credit = new Credit()
          const destination = new Destination()
          const pipe = new Pipe({ source: credit, destination, ...(batched ? { schedule: tasks.schedule } : {}) })
          const sent: Buffer[] = []
          let next = 0
          /** Bytes the destination accepted with a true write, or that were written before a drain. */
          let accepted = 0
          const checkCredit = (): void => {
            assert.ok(credit.returned <= accepted, `credit ${credit.returned} ran ahead of ${accepted} bytes taken`)
          }
          const write = destination.write.bind(destination)
          destination.write = (chunk: Buffer): boolean => {
            const ok = write(chunk)
            if (ok) accepted = destination.bytes.length
            return ok
          }
          for (const s of steps) {
            if (s.kind === 'chunk') {
              const chunk = Buffer.alloc(s.size)
              for (let i = 0; i < s.size; i++) chunk[i] = next++ & 0xff
              sent.push(chunk)
              pipe.push(chunk)
              // ByteQueue copies small chunks (their caller may drop the view) and keeps large ones as views.
              if (s.size < VIEW_AT_LEAST) chunk.fill(0)
            } else if (s.kind === 'full') {
              destination.full = s.full
            } else if (s.kind === 'drain') {
              if (!destination.full) {
                accepted = destination.bytes.length
                pipe.drained()
              }
            } else {
              tasks.run()
            }
            checkCredit()
          }
          destination.full = false
          tasks.run()
          accepted = destination.bytes.length
          pipe.drained()
          const total = next
          assert.equal(destination.bytes.length, total)
          assert.equal(credit.returned, total, 'every byte is credited once the destination drained')
          let expected = 0
          for (const byte of destination.bytes) assert.equal(byte, expected++ & 0xff)
          assert.equal(pipe.owed + pipe.held, 0)
        }),
        { numRuns: 300 },
      )
    })
  }
})

describe('Pipe over a session: the receiver holds at most its window whatever the destination does', () => {
  const POST: RequestHead = { method: 'POST', path: '/upload', headers: [] }

  it('a 3 MiB body through a destination that is always full arrives intact, the sender paused by credit alone', () => {
    const destination = new Destination()
    destination.full = true
    let pipe: Pipe | undefined
    let ended = false
    const p = sessionPair({
      onStream(stream: Stream) {
        pipe = new Pipe({ source: stream, destination })
        return { onData: (chunk: Buffer) => pipe!.push(chunk), onEnd: () => (ended = true), onReset() {}, onDrain() {} }
      },
    })
    const serverHandler = new RecordingHandler()
    const stream = p.server.openStream(POST, serverHandler)!
    const body = Buffer.alloc(3 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff
    let offset = 0
    const writeSome = (): void => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + 16 * 1024)
        offset += chunk.length
        if (!stream.write(chunk)) return
      }
      stream.end()
    }
    writeSome()
    let drainedAt = 0
    for (let rounds = 0; !ended && rounds < 10_000; rounds++) {
      const drains = serverHandler.drains
      p.pump()
      const handed = destination.bytes.length - drainedAt
      assert.ok(handed <= INITIAL_WINDOW, `${handed} bytes reached the destination between two drains: more than one window`)
      drainedAt = destination.bytes.length
      pipe?.drained()
      p.pump()
      if (serverHandler.drains > drains) writeSome()
    }
    assert.equal(ended, true, 'the body completed')
    assert.ok(destination.bytes.equals(body), 'every byte arrived, in order')
  })
})
