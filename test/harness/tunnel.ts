import { startAgentProcess, startServerProcess, type AgentProcess, type ServerProcess } from './processes.js'
import { startLocalService, type LocalService } from './local-service.js'
import { tempDir } from './temp.js'

export interface TunnelFixture {
  service: LocalService
  server: ServerProcess
  agent: AgentProcess
  stop(): Promise<void>
}

/** The usual end-to-end setup: the test service, a real server process and a real agent process for it. */
export async function startTunnel(
  options: { server?: Parameters<typeof startServerProcess>[0]; agentArgs?: string[]; agentEnv?: NodeJS.ProcessEnv } = {},
): Promise<TunnelFixture> {
  const dir = tempDir()
  const service = await startLocalService()
  let server: ServerProcess | undefined
  try {
    server = await startServerProcess(options.server)
    const agent = await startAgentProcess(server.url, service.url, {
      stateFile: dir.file('state.json'),
      ...(options.agentArgs ? { args: options.agentArgs } : {}),
      ...(options.agentEnv ? { env: options.agentEnv } : {}),
    })
    return {
      service,
      server,
      agent,
      async stop() {
        await agent.stop()
        await server!.stop()
        await service.close()
        dir.remove()
      },
    }
  } catch (error) {
    await server?.stop()
    await service.close()
    dir.remove()
    throw error
  }
}
