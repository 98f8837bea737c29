/**
 * The gRPC service the gRPC bench calls, in its own process (forked by
 * bench/grpc.ts): the hand-written h2c service of the e2e tests. Prints
 * `{"event":"ready","url":"h2c://…","port":…}` once it listens.
 */
import { startGrpcService } from '../test/harness/grpc-wire.js'

const service = await startGrpcService()
process.stdout.write(`${JSON.stringify({ event: 'ready', url: service.url, port: service.port })}\n`)
process.on('disconnect', () => void service.close().then(() => process.exit(0)))
