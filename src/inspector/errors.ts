/**
 * Errors the inspector raises. Each has a stable `code`; the HTTP API sends
 * it back as `{ error: { code, message } }` so the UI and tests can match on
 * the code, never on the wording.
 */
export const InspectorErrorCode = {
  /** An option passed to RequestLog or startInspector is invalid. */
  BAD_OPTION: 'ADIT_ERR_INSPECTOR_OPTION',
  /** No exchange with that id is in the log (never was, or it was evicted). */
  NOT_FOUND: 'ADIT_ERR_INSPECTOR_NOT_FOUND',
  /** The Host header is not loopback or the bound address (DNS-rebinding guard). */
  FORBIDDEN_HOST: 'ADIT_ERR_INSPECTOR_HOST',
  /** The request came from a page other than the inspector's own (Origin is not its exact origin, or Sec-Fetch-Site is not same-origin). */
  FORBIDDEN_ORIGIN: 'ADIT_ERR_INSPECTOR_ORIGIN',
  /** The request lacks the inspector's per-run token (the `?token=` of the URL the agent printed, its cookie, or the header). */
  TOKEN_REQUIRED: 'ADIT_ERR_INSPECTOR_TOKEN',
  /** The replay edits are not valid JSON of the documented shape. */
  BAD_EDIT: 'ADIT_ERR_INSPECTOR_BAD_EDIT',
  /** The replay edits body is larger than the inspector accepts. */
  EDIT_TOO_LARGE: 'ADIT_ERR_INSPECTOR_EDIT_TOO_LARGE',
  /** The stored request body was truncated or evicted, so it cannot be replayed as is. */
  BODY_INCOMPLETE: 'ADIT_ERR_INSPECTOR_BODY_INCOMPLETE',
  /** The agent gave the inspector no replay function. */
  REPLAY_UNAVAILABLE: 'ADIT_ERR_INSPECTOR_REPLAY_UNAVAILABLE',
  /** The injected replay function threw or broke its contract. */
  REPLAY_FAILED: 'ADIT_ERR_INSPECTOR_REPLAY_FAILED',
  /** No route matches the method and path. */
  NO_ROUTE: 'ADIT_ERR_INSPECTOR_NO_ROUTE',
} as const
export type InspectorErrorCode = (typeof InspectorErrorCode)[keyof typeof InspectorErrorCode]

export class InspectorError extends Error {
  readonly code: InspectorErrorCode
  constructor(code: InspectorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'InspectorError'
    this.code = code
  }
}
