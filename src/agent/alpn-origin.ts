import { connect as tlsConnect } from 'node:tls'
import type { Dispatcher } from 'undici'
import { Dispatcher as DispatcherBase } from '../http/undici-parts.js'
import { H2Origin } from './h2-origin.js'

/** How long the ALPN probe may take before the service is taken to speak HTTP/1.1 this time. */
const PROBE_TIMEOUT_MS = 5_000

type Choice = 'unknown' | 'probing' | 'h2' | 'http/1.1'

/**
 * An `https://` service, reached over HTTP/2 when it offers `h2` by ALPN and
 * over HTTP/1.1 (the undici pool) when it does not: the first request waits
 * for one TLS handshake that offers both, and the answer holds for the
 * agent's life. A probe that fails (service down) decides nothing: that
 * request goes to the pool, which reports the error as usual, and the next
 * request probes again. Requests that ask for an upgrade (WebSocket) always
 * take the pool: HTTP/1.1 is where `Upgrade` exists.
 */
export class AlpnOrigin extends DispatcherBase {
  private choice: Choice = 'unknown'
  private h2: H2Origin | null = null
  private readonly waiting: Array<[Dispatcher.DispatchOptions, Dispatcher.DispatchHandler]> = []

  constructor(
    private readonly url: URL,
    private readonly http1: Dispatcher,
    private readonly rejectUnauthorized: boolean,
  ) {
    super()
  }

  /** The protocol the service chose, once known. */
  get protocol(): 'h2' | 'http/1.1' | undefined {
    return this.choice === 'h2' || this.choice === 'http/1.1' ? this.choice : undefined
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (options.upgrade || this.choice === 'http/1.1') return this.http1.dispatch(options, handler)
    if (this.choice === 'h2') return this.h2!.dispatch(options, handler)
    this.waiting.push([options, handler])
    if (this.choice === 'unknown') this.probe()
    return true
  }

  private probe(): void {
    this.choice = 'probing'
    const port = Number(this.url.port || 443)
    const host = this.url.hostname.replace(/^\[|\]$/g, '')
    const socket = tlsConnect({
      host,
      port,
      servername: isIp(host) ? undefined : host,
      ALPNProtocols: ['h2', 'http/1.1'],
      rejectUnauthorized: this.rejectUnauthorized,
    })
    const decide = (choice: Choice): void => {
      clearTimeout(timer)
      socket.removeAllListeners()
      socket.on('error', () => {})
      socket.destroy()
      this.choice = choice
      if (choice === 'h2') this.h2 ??= new H2Origin({ url: this.url, rejectUnauthorized: this.rejectUnauthorized })
      const waiting = this.waiting.splice(0)
      // 'unknown' (the probe failed): the pool makes the connection again and reports why it fails.
      for (const [options, handler] of waiting) (choice === 'h2' ? this.h2! : this.http1).dispatch(options, handler)
    }
    const timer = setTimeout(() => decide('unknown'), PROBE_TIMEOUT_MS)
    socket.once('secureConnect', () => decide(socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1'))
    socket.once('error', () => decide('unknown'))
  }

  override close(): Promise<void> {
    return Promise.all([this.http1.close(), this.h2?.close()]).then(() => undefined)
  }

  override destroy(): Promise<void> {
    return Promise.all([this.http1.destroy(), this.h2?.destroy()]).then(() => undefined)
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}
