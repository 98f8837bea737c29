/**
 * Errors the protocol layer raises. Each has a stable `code`; tests assert
 * the code, never the message. A ProtocolError from a peer's frame closes
 * that peer's connection — never the process.
 */
export const ProtocolErrorCode = {
  FRAME_TOO_SHORT: 'ADIT_ERR_FRAME_TOO_SHORT',
  UNKNOWN_FRAME_TYPE: 'ADIT_ERR_UNKNOWN_FRAME_TYPE',
  BAD_FRAME_PAYLOAD: 'ADIT_ERR_BAD_FRAME_PAYLOAD',
  FLOW_CONTROL: 'ADIT_ERR_FLOW_CONTROL',
  STREAM_STATE: 'ADIT_ERR_STREAM_STATE',
  STREAM_ID: 'ADIT_ERR_STREAM_ID',
  JSON_FRAME: 'ADIT_ERR_JSON_FRAME',
} as const
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode]

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ProtocolError'
    this.code = code
  }
}
