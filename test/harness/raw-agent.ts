import { WebSocket } from 'ws'
import { decodeFrame, decodeOpen, encodeData, encodeEnd, encodeHead, FrameType, type RequestHead } from '../../src/protocol/index.js'

export interface RawAgent {
  ws: WebSocket
  /** OPEN frames received: stream id and head. */
  opened: Array<{ streamId: number; head: RequestHead }>
  /** Close code and reason once the server closed the connection. */
  closed: Promise<{ code: number; reason: string }>
  close(): void
}

/**
 * A hand-written `adit.v2` agent: no session, no checks, so a test can send
 * the server exactly the frames it wants. `answer` runs for each OPEN; by
 * default it replies 200 "raw" with the given headers.
 */
export async function connectRawAgent(
  serverUrl: string,
  id: string,
  secret: string,
  answer?: (ws: WebSocket, streamId: number, head: RequestHead) => void,
): Promise<RawAgent> {
  const ws = new WebSocket(`${serverUrl.replace('http:', 'ws:')}/ws?id=${id}`, ['adit.v2'], {
    headers: { authorization: `Bearer ${secret}` },
    maxPayload: 4 * 1024 * 1024,
  })
  const opened: RawAgent['opened'] = []
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  ws.on('error', () => {})
  ws.on('message', (data: Buffer) => {
    const frame = decodeFrame(data)
    if (frame.type !== FrameType.OPEN) return
    const head = decodeOpen(frame.payload)
    opened.push({ streamId: frame.streamId, head })
    if (answer) answer(ws, frame.streamId, head)
    else replyRaw(ws, frame.streamId, [])
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => reject(new Error(`raw agent refused with ${res.statusCode}`)))
    ws.once('error', reject)
  })
  return { ws, opened, closed, close: () => ws.terminate() }
}

/** HEAD 200 with `headers`, DATA "raw", END. */
export function replyRaw(ws: WebSocket, streamId: number, headers: Array<[string, string]>): void {
  ws.send(encodeHead(streamId, { status: 200, headers: [['content-type', 'text/plain'], ...headers] }))
  ws.send(encodeData(streamId, Buffer.from('raw')))
  ws.send(encodeEnd(streamId))
}
