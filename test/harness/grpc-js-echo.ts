/**
 * An `@grpc/grpc-js` echo service and its client, with raw-byte messages
 * (identity serializers: the tunnel never looks inside them, so no .proto):
 * used by test/e2e/grpc-js.test.ts (h2c) and test/e2e/tls.test.ts (over TLS).
 */
import * as grpc from '@grpc/grpc-js'

const bytes = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b }
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: bytes.serialize,
  requestDeserialize: bytes.deserialize,
  responseSerialize: bytes.serialize,
  responseDeserialize: bytes.deserialize,
})
export const echoService = {
  unary: method('/test.Echo/Unary', false, false),
  fail: method('/test.Echo/Fail', false, false),
  slow: method('/test.Echo/Slow', false, false),
  serverStream: method('/test.Echo/ServerStream', false, true),
  clientStream: method('/test.Echo/ClientStream', true, false),
  bidi: method('/test.Echo/Bidi', true, true),
} satisfies grpc.ServiceDefinition
export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'test.Echo')
export type Echo = InstanceType<typeof EchoClient> & Record<keyof typeof echoService, (...args: unknown[]) => unknown>

/** What the service saw, for the assertions about deadlines and cancellation. */
export const seen = { slowCancelled: false, slowDeadline: undefined as string | undefined, unaryMetadata: undefined as string | undefined }

export function startEchoService(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server()
  server.addService(echoService, {
    unary(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      seen.unaryMetadata = call.metadata.get('x-call-meta')[0]?.toString()
      const header = new grpc.Metadata()
      header.set('x-header-meta', 'h1')
      call.sendMetadata(header)
      const trailer = new grpc.Metadata()
      trailer.set('x-trailer-meta', 'kept')
      trailer.set('x-bin-bin', Buffer.from([0, 1, 2, 255]))
      callback(null, Buffer.from(call.request.toString().toUpperCase()), trailer)
    },
    fail(_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const trailer = new grpc.Metadata()
      trailer.set('x-reason', 'no such thing')
      callback({ code: grpc.status.NOT_FOUND, details: 'thing 42 is not here (ünïcode too)', metadata: trailer })
    },
    slow(call: grpc.ServerUnaryCall<Buffer, Buffer>) {
      // Never answers: the client's deadline ends the call, and the cancellation must reach here.
      seen.slowDeadline = call.metadata.get('grpc-timeout')[0]?.toString() ?? String(call.getDeadline())
      call.on('cancelled', () => (seen.slowCancelled = true))
    },
    serverStream(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      const [count, size] = call.request.toString().split(':').map(Number) as [number, number]
      let i = 0
      const pump = (): void => {
        while (i < count) {
          const message = Buffer.alloc(size, i % 251)
          i++
          if (!call.write(message)) return void call.once('drain', pump)
        }
        call.end()
      }
      pump()
    },
    clientStream(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      let messages = 0
      let total = 0
      call.on('data', (m: Buffer) => {
        messages++
        total += m.length
      })
      call.on('end', () => callback(null, Buffer.from(`${messages}:${total}`)))
    },
    bidi(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
      call.on('data', (m: Buffer) => call.write(Buffer.from(`pong ${m.toString().slice(5)}`)))
      call.on('end', () => call.end())
    },
  })
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve({ server, port }))),
  )
}

/** A client to the adit server at 127.0.0.1:`serverPort`, reaching the tunnel by `:authority` (host routing); TLS when `credentials` say so. */
export function clientFor(serverPort: number, authority: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): Echo {
  return new EchoClient(`127.0.0.1:${serverPort}`, credentials, { 'grpc.default_authority': authority, ...options }) as Echo
}

export function unary(client: Echo, name: 'unary' | 'fail' | 'slow', request: Buffer, options: { metadata?: grpc.Metadata; deadlineMs?: number } = {}) {
  return new Promise<{ error: grpc.ServiceError | null; reply?: Buffer; header?: grpc.Metadata; trailer?: grpc.Metadata }>((resolve) => {
    let header: grpc.Metadata | undefined
    let trailer: grpc.Metadata | undefined
    const callOptions: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {}
    const call = (client[name] as Function).call(
      client,
      request,
      options.metadata ?? new grpc.Metadata(),
      callOptions,
      (error: grpc.ServiceError | null, reply?: Buffer) => setImmediate(() => resolve({ error, reply, header, trailer })),
    ) as grpc.ClientUnaryCall
    call.on('metadata', (m) => (header = m))
    call.on('status', (s) => (trailer = s.metadata))
  })
}
