import { readFileSync } from 'node:fs'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import { ConfigError } from '../errors.js'

/** The server's certificate (chain) and private key, PEM. */
export interface TlsIdentity {
  cert: string | Buffer
  key: string | Buffer
}

/** Where the PEM came from, for errors: the file names, or how the option was given. */
interface Sources {
  cert: string
  key: string
}

/**
 * Reads `--tls-cert` / `--tls-key`: both or neither (undefined). Throws a
 * ConfigError naming the setting and the file when one is missing,
 * unreadable, not PEM, or when the key does not belong to the certificate.
 */
export function readTlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsIdentity | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined
  if (certFile === undefined || keyFile === undefined) {
    const [given, missing] = certFile === undefined ? ['--tls-key', '--tls-cert (ADIT_TLS_CERT)'] : ['--tls-cert', '--tls-key (ADIT_TLS_KEY)']
    throw new ConfigError(`--tls-cert and --tls-key go together: ${given} was given without ${missing}`)
  }
  const identity = { cert: readPem('--tls-cert', certFile), key: readPem('--tls-key', keyFile) }
  checkTlsIdentity(identity, { cert: `--tls-cert ${certFile}`, key: `--tls-key ${keyFile}` })
  return identity
}

/** Checks that `identity` is a PEM certificate and its private key; throws a ConfigError naming the bad one. */
export function checkTlsIdentity(identity: TlsIdentity, sources: Sources = { cert: 'server option tls.cert', key: 'server option tls.key' }): void {
  try {
    new X509Certificate(identity.cert)
  } catch (cause) {
    throw new ConfigError(`${sources.cert}: not a PEM certificate (${reason(cause)})`, { cause })
  }
  try {
    createPrivateKey(identity.key)
  } catch (cause) {
    throw new ConfigError(`${sources.key}: not a PEM private key (${reason(cause)}); an encrypted key needs its passphrase removed`, { cause })
  }
  try {
    createSecureContext({ cert: identity.cert, key: identity.key })
  } catch (cause) {
    throw new ConfigError(`${sources.key} is not the key of the certificate in ${sources.cert} (${reason(cause)})`, { cause })
  }
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (cause) {
    throw new ConfigError(`${flag} ${file}: cannot read the file (${reason(cause)})`, { cause })
  }
}

function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException
  return e.code !== undefined && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : (e.message ?? String(error))
}
