// Paths the deploy tests share. Compiled tests live in dist/test/unit/deploy,
// four levels below the repository root.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))

export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts)
}

/** The CLI the images run. */
export const binJs = repoPath('dist', 'src', 'bin.js')

/**
 * Why a test that needs the compiled CLI cannot run, or undefined when it can.
 * It is skipped only while the CLI's source does not exist yet; once
 * src/bin.ts is there a missing dist/src/bin.js is a build failure, and the
 * tests fail on it instead.
 */
export function cliMissingReason(): string | undefined {
  if (existsSync(binJs)) return undefined
  if (existsSync(repoPath('src', 'bin.ts'))) return undefined
  return 'src/bin.ts (the adit CLI) does not exist yet on this branch: merge main once it has the server and agent'
}
