/**
 * adit as a library.
 *
 * @example
 * import { startServer, connect } from 'adit'
 * const server = await startServer({ host: '127.0.0.1', port: 0 })
 * const tunnel = await connect({ server: server.url, local: 'http://127.0.0.1:3000', stateFile: null })
 * console.log(tunnel.publicUrl)
 * await tunnel.close()
 * await server.close()
 */
export { startServer, type RunningServer } from './server/server.js'
export { serverDefaults, type ServerOptions } from './server/config.js'
export { connect, Tunnel, type TunnelEvents } from './agent/tunnel.js'
export { agentDefaults, type AgentOptions, type HostHeaderMode } from './agent/config.js'
export type { ExchangeObserver, ExchangeStart, ExchangeEnd } from './agent/exchange-observer.js'
export { AditError, ConfigError, ErrorCode, ProtocolError, ProtocolErrorCode } from './errors.js'
export { Subprotocol, FrameType, ResetCode, GoAwayCode } from './protocol/index.js'
export { RequestLog, requestLogDefaults, type RequestLogOptions, type ExchangeRecord, type ExchangeSummary } from './inspector/request-log.js'
export { startInspector, inspectorDefaults, type Inspector, type InspectorOptions } from './inspector/inspector-server.js'
export type { ReplayFunction, ReplayRequest, ReplayResult } from './inspector/replay.js'
export { InspectorError, InspectorErrorCode } from './inspector/errors.js'
export { ChannelName } from './observability/channels.js'
export { ServerMetrics, AgentMetrics } from './observability/metrics.js'
export { subscribeAgentTracing } from './observability/agent-tracing.js'
export { runDoctorChecks, type DoctorStep, type DoctorReport } from './agent/doctor.js'
