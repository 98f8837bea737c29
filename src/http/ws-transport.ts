import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { encodeData, HEADER_LENGTH, writeDataHeader, type Transport } from '../protocol/index.js'

/**
 * DATA payloads at least this long are written beside their headers rather
 * than copied into one frame buffer: below it the copy costs less than a
 * second buffer in the write.
 */
const SEPARATE_PAYLOAD_BYTES = 4096

/** `ws.readyState` of an open WebSocket. */
const OPEN = 1

/**
 * A session transport over a `ws` WebSocket, with writes coalesced per tick
 * (as nats.js does per microtask): the first frame of a tick corks the TCP
 * socket and a nextTick uncorks it, so the OPEN+END of a request, or the
 * HEAD+DATA+END of a small response, leave in one writev instead of one
 * syscall each. Frames stay one WebSocket message each.
 *
 * `unmasked` (a server, or an agent whose masking key is all zeros: see
 * agent/server-connection.ts): a DATA frame's payload is not copied at all.
 * The transport writes the WebSocket frame header and the adit header as
 * one small buffer and the payload, as it is, after it — the message `ws`
 * would have sent for `encodeData(...)`, without the payload-sized
 * allocation and copy of every body byte.
 */
export function wsTransport(ws: WebSocket, unmasked: boolean): Transport {
  // ws keeps its net.Socket in `_socket` (set once a client connects); no public accessor exists.
  let socket: Socket | undefined
  let corked = false
  const uncork = (): void => {
    corked = false
    socket?.uncork()
  }
  const corkForTick = (): void => {
    socket ??= (ws as unknown as { _socket?: Socket })._socket
    if (!corked && socket !== undefined) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
  }
  // ws's sender writes straight to the socket while it is in its default state (0; it queues only
  // while it reads a Blob, which adit never sends), so frames written here stay in order with its own.
  // A client gets its sender (and socket) only once connected: both are read when a frame is sent.
  const senderIdle = (): boolean => (ws as unknown as { _sender?: { _state?: number } })._sender?._state === 0
  const client = !(ws as unknown as { _isServer?: boolean })._isServer
  const transport: Transport = {
    send(frame, onSent) {
      corkForTick()
      ws.send(frame, { binary: typeof frame !== 'string' }, onSent)
    },
    get bufferedAmount() {
      return ws.bufferedAmount
    },
  }
  if (!unmasked) return transport
  transport.sendData = (streamId, payload, end, blocked, onSent) => {
    corkForTick()
    if (payload.length < SEPARATE_PAYLOAD_BYTES || socket === undefined || ws.readyState !== OPEN || !senderIdle()) {
      ws.send(encodeData(streamId, payload, end, blocked), { binary: true }, onSent)
      return
    }
    // RFC 6455 §5.2: FIN + binary opcode, the length (7 bits, 16 or 64), a client's masking key (all zeros: the payload goes as it is).
    const length = HEADER_LENGTH + payload.length
    const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8
    const maskBytes = client ? 4 : 0
    const head = Buffer.allocUnsafe(2 + lengthBytes + maskBytes + HEADER_LENGTH)
    head[0] = 0x82
    const maskBit = client ? 0x80 : 0
    if (lengthBytes === 0) {
      head[1] = maskBit | length
    } else if (lengthBytes === 2) {
      head[1] = maskBit | 126
      head.writeUInt16BE(length, 2)
    } else {
      head[1] = maskBit | 127
      head.writeUInt32BE(0, 2)
      head.writeUInt32BE(length, 6)
    }
    if (client) head.writeUInt32BE(0, 2 + lengthBytes)
    writeDataHeader(head, 2 + lengthBytes + maskBytes, streamId, end, blocked)
    socket.write(head)
    socket.write(payload, onSent)
  }
  return transport
}
