import { defaultStateFile } from '../agent/config-dir.js'
import { parseLocalTarget } from '../agent/local-target.js'
import { loadLogin, withSavedLogin } from '../config/saved-login.js'
import { runDoctorChecks, type DoctorStep } from '../agent/doctor.js'
import { AditError, ConfigError, ErrorCode } from '../errors.js'
import { parseDuration } from '../config/parse.js'

export interface DoctorFlags {
  server?: string
  local?: string
  apiKey?: string
  stateFile?: string
  timeout?: string
}

const marks: Record<DoctorStep['status'], string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' }

/** One step as the person at the terminal reads it. */
export function formatStep(step: DoctorStep): string {
  let line = `[${marks[step.status]}] ${step.name.padEnd(11)} ${step.detail}${step.ms !== undefined ? ` (${step.ms} ms)` : ''}`
  if (step.fix !== undefined && step.status !== 'pass') line += `\n       fix: ${step.fix}`
  return line
}

/** `adit doctor`: prints each check as it finishes; fails (exit code 2) when any check failed. */
export async function runDoctor(flags: DoctorFlags, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const stateFile = flags.stateFile === 'none' ? null : (flags.stateFile ?? defaultStateFile(env))
  // What `adit login` saved fills in what was not given (the key only for its own server).
  const saved = withSavedLogin({ server: flags.server }, { server: flags.server !== undefined, apiKey: flags.apiKey !== undefined }, loadLogin(env))
  const server = flags.server ?? saved.server
  if (server === undefined) throw new ConfigError('doctor needs a server: --server <url> (ADIT_SERVER), or save one with `adit login <server>`')
  const report = await runDoctorChecks({
    server,
    local: flags.local === undefined ? undefined : parseLocalTarget(flags.local, '--local'),
    apiKey: flags.apiKey ?? saved.apiKey,
    stateFile,
    timeoutMs: flags.timeout === undefined ? 5000 : parseDuration('--timeout', flags.timeout),
    onStep: (step) => process.stdout.write(`${formatStep(step)}\n`),
  })
  const failed = report.steps.filter((s) => s.status === 'fail')
  if (failed.length > 0) {
    throw new AditError(ErrorCode.DOCTOR_FAILED, 0, `${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((s) => s.name).join(', ')}`)
  }
  process.stdout.write('all checks passed\n')
}
