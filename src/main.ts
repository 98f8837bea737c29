/** The CLI run by bin.ts, once the compile cache is on. */
import { AditError } from './errors.js'
import { buildCli } from './cli/cli.js'

// The only place that turns an error into an exit code.
buildCli(process.argv)
  .parseAsync(process.argv)
  .then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof AditError) {
        process.stderr.write(`adit: ${error.message} [${error.code}]\n`)
        process.exit(2)
      }
      process.stderr.write(`adit: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    },
  )
