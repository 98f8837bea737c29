import type { buildConnector as undiciConnector } from 'undici'
import { buildConnector } from '../http/undici-parts.js'

/** The code a local service's connection reset carries once undici can no longer mistake it for an end. */
export const LOCAL_RESET_CODE = 'ADIT_LOCAL_RESET'

/**
 * An undici connector whose sockets report a reset (ECONNRESET) under
 * another code. undici reads an ECONNRESET on a response without keep-alive
 * as the end of its body (client-h1 onHttpSocketError: a macOS quirk), so a
 * close-delimited answer — no length, no chunking — cut by a reset from the
 * local service would be passed on as complete; with the code renamed,
 * undici fails the request instead and the agent resets the stream, which
 * the server signals to the public client (issue 11: truncation never looks
 * like success). A clean FIN still ends a close-delimited body: that is how
 * such a body ends, there is nothing to tell it from.
 *
 * The listener is added before undici's own (it attaches after the connect
 * callback) and changes the one error object every 'error' listener gets.
 */
export function resetAwareConnector(options: undiciConnector.BuildOptions): undiciConnector.connector {
  const connect = buildConnector(options)
  return (opts, callback) => {
    connect(opts, (...args) => {
      args[1]?.on('error', renameReset)
      callback(...args)
    })
  }
}

function renameReset(error: NodeJS.ErrnoException): void {
  if (error.code === 'ECONNRESET') error.code = LOCAL_RESET_CODE
}
