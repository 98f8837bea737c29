/**
 * The library side of `--tls-cert/--tls-key` (the CLI's is test/e2e/tls.test.ts): startServer's
 * `tls` option is checked at start like every other option, and `setTls` needs a TLS server.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { startServer } from '../../../src/server/server.js'
import { resolveServerOptions } from '../../../src/server/config.js'
import { tempDir } from '../../harness/temp.js'
import { makeTestCert, opensslMissing } from '../../harness/tls-cert.js'

describe('startServer({ tls })', { skip: opensslMissing('the tls option tests') }, () => {
  const dir = tempDir()
  after(() => dir.remove())

  it('refuses PEM that is not a certificate, or a key of another one, with ADIT_ERR_CONFIG naming the option', () => {
    const good = makeTestCert(dir.path, 'good')
    const other = makeTestCert(dir.path, 'other')
    assert.throws(() => resolveServerOptions({ tls: { cert: 'nope', key: good.key } }), {
      code: 'ADIT_ERR_CONFIG',
      message: /^server option tls\.cert: not a PEM certificate/,
    })
    assert.throws(() => resolveServerOptions({ tls: { cert: good.cert, key: 'nope' } }), {
      code: 'ADIT_ERR_CONFIG',
      message: /^server option tls\.key: not a PEM private key/,
    })
    assert.throws(() => resolveServerOptions({ tls: { cert: good.cert, key: other.key } }), {
      code: 'ADIT_ERR_CONFIG',
      message: /^server option tls\.key is not the key of the certificate in server option tls\.cert/,
    })
  })

  it('listens on https:// with ALPN h2 and http/1.1; setTls swaps the certificate; a cleartext server refuses setTls', async () => {
    const first = makeTestCert(dir.path, 'first')
    const second = makeTestCert(dir.path, 'second', { cn: 'second' })
    const server = await startServer({ host: '127.0.0.1', port: 0, tls: { cert: first.cert, key: first.key } })
    const plain = await startServer({ host: '127.0.0.1', port: 0 })
    try {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
      const handshake = (ca: Buffer, alpn: string[]) =>
        new Promise<{ alpn: string | false; subject: string }>((resolve, reject) => {
          const socket = tlsConnect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca, ALPNProtocols: alpn }, () => {
            resolve({ alpn: socket.alpnProtocol ?? false, subject: socket.getPeerX509Certificate()?.subject ?? '' })
            socket.end()
          })
          socket.once('error', reject)
        })
      assert.deepEqual(await handshake(first.cert, ['h2', 'http/1.1']), { alpn: 'h2', subject: 'CN=localhost' })
      assert.deepEqual(await handshake(first.cert, ['http/1.1']), { alpn: 'http/1.1', subject: 'CN=localhost' })
      assert.throws(() => server.setTls({ cert: 'nope', key: second.key }), { code: 'ADIT_ERR_CONFIG' })
      server.setTls({ cert: second.cert, key: second.key })
      assert.equal((await handshake(second.cert, ['h2'])).subject, 'CN=second')
      assert.throws(() => plain.setTls({ cert: second.cert, key: second.key }), { code: 'ADIT_ERR_CONFIG', message: /started without TLS/ })
    } finally {
      await server.close()
      await plain.close()
    }
  })
})
