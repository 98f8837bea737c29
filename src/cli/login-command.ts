import { request } from 'undici'
import { saveLogin, serverOrigin } from '../config/saved-login.js'

export interface LoginFlags {
  apiKey?: string
}

/**
 * `adit login <server> [--api-key <key>]`: saves the server (and key) so
 * `adit http 3000` needs nothing else. Says whether an adit server answers
 * there; saves either way (the agent waits for a server that is down).
 */
export async function runLogin(server: string, flags: LoginFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const origin = serverOrigin(server)
  const apiKey = flags.apiKey !== undefined && flags.apiKey !== '' ? flags.apiKey : undefined
  const path = saveLogin({ server: origin, ...(apiKey ? { apiKey } : {}) }, env)
  let note: string
  try {
    const res = await request(new URL('/healthz', origin), { headersTimeout: 5000, bodyTimeout: 5000 })
    const body = (await res.body.text()).trim()
    note = res.statusCode === 200 && body === 'ok' ? 'the server answers' : `${origin}/healthz answered ${res.statusCode}; is it an adit server?`
  } catch (error) {
    note = `${origin} does not answer yet (${(error as Error).message}); the agent will wait for it`
  }
  process.stdout.write(`saved ${origin}${apiKey ? ' and its API key' : ''} to ${path} (mode 0600); ${note}\nnext: adit http <port>\n`)
}
