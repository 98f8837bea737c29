import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** openssl makes the tests' throwaway certificates (node:crypto has no certificate generator); .ci/run installs it. */
export const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p))

/** A skip reason when openssl is missing, printed once; false when it is there, and always false under CI (which must not skip). */
export function opensslMissing(what: string): string | false {
  if (openssl !== undefined || process.env.CI) return false
  const reason = `openssl not installed (apt-get install -y openssl): cannot make a test certificate — ${what} skipped`
  console.log(`# SKIP ${reason}`)
  return reason
}

export interface TestCert {
  certFile: string
  keyFile: string
  cert: Buffer
  key: Buffer
}

/**
 * A self-signed certificate valid one day for `localhost` and 127.0.0.1, written as
 * `{name}.cert.pem` / `{name}.key.pem` into `dir`. `rsa: true` for an RSA key (default P-256).
 */
export function makeTestCert(dir: string, name = 'server', options: { rsa?: boolean; cn?: string } = {}): TestCert {
  if (openssl === undefined) throw new Error('openssl not found at /usr/bin/openssl or /usr/local/bin/openssl (apt-get install -y openssl)')
  const certFile = join(dir, `${name}.cert.pem`)
  const keyFile = join(dir, `${name}.key.pem`)
  const key = options.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
  execFileSync(
    openssl,
    [
      'req',
      '-x509',
      ...key,
      '-nodes',
      '-subj',
      `/CN=${options.cn ?? 'localhost'}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days',
      '1',
    ].concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'ignore' },
  )
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
}
