import { createHmac } from 'node:crypto'

/**
 * The visitor token of a TCP tunnel: what its owner hands to the people who
 * may connect (`adit connect --token`). Derived from the tunnel's secret, so
 * the agent prints it without asking the server and any server instance
 * checks it without storage (it recomputes the secret from its signing key,
 * see server/security/tunnel-secret.ts). One-way: a token does not give the
 * secret away (a visitor cannot act as the agent), and rotating the secret
 * (`adit tunnels rotate`) changes the token. A leaf: both sides import it.
 */
export function visitorTokenFor(tunnelId: string, secret: string): string {
  return createHmac('sha256', secret).update(`adit-tcp-visitor\0${tunnelId}`).digest('base64url')
}

/** The request header that carries it (never forwarded to the agent). */
export const VISITOR_TOKEN_HEADER = 'adit-visitor-token'
