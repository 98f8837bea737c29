/**
 * Help text and the README's flag tables, derived from the settings tables.
 * `scripts/settings-tables.mjs` writes the Markdown between the README's
 * markers; a test fails when the README and the tables drift apart.
 */
import { agentSettings } from './agent-table.js'
import { serverSettings } from './server-table.js'
import { defaultShown, flagSpec, type AnySetting } from './setting.js'

/** An option of a command that is not a setting (it has no config-file key). */
export interface CommandOption {
  flag: string
  env?: string
  doc: string
}

export const configOption: CommandOption = { flag: '--config <file>', env: 'ADIT_CONFIG', doc: 'JSON or YAML file of settings (flag > env > file > default)' }
export const printConfigOption: CommandOption = { flag: '--print-config', doc: 'print the effective configuration, secrets redacted, and exit' }
export const noInspectOption: CommandOption = { flag: '--no-inspect', doc: 'do not serve the request inspector' }

/** Markdown → terminal text: backticks and bold marks dropped, links reduced to their text. */
export function plain(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/\*\*|`/g, '')
}

/** A row's `--help` line: its doc and default. */
export function helpText(row: AnySetting): string {
  const shown = defaultShown(row)
  return `${plain(row.doc)}${shown === undefined ? '' : ` (default: ${plain(shown)})`}`
}

/** The default column: a described default as written, a switch as on/off, a value as code. */
function defaultCell(row: AnySetting): string {
  const shown = defaultShown(row)
  if (shown === undefined) return '—'
  if (row.defaultText !== undefined || row.type.placeholder === undefined) return shown
  return `\`${shown}\``
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|')
}

/** The Markdown table of a command's flags. */
export function markdownTable(rows: readonly AnySetting[], extra: readonly CommandOption[]): string {
  const lines = ['| flag | env | default | meaning |', '|---|---|---|---|']
  for (const row of rows) {
    lines.push(`| \`${flagSpec(row)}\` | \`${row.env[0]}\` | ${cell(defaultCell(row))} | ${cell(row.doc)} |`)
  }
  for (const option of extra) lines.push(`| \`${option.flag}\` | ${option.env ? `\`${option.env}\`` : '—'} | — | ${cell(option.doc)} |`)
  return lines.join('\n')
}

/** The generated README parts, by marker name. */
export function readmeTables(): Record<string, string> {
  return {
    'server-flags': markdownTable(serverSettings, [
      { ...configOption, doc: 'JSON or YAML file of settings: every key of this table, camelCase or kebab-case, at the top level or under `server:`' },
      printConfigOption,
    ]),
    'agent-flags': markdownTable(agentSettings, [
      noInspectOption,
      {
        ...configOption,
        doc: 'JSON or YAML file of settings (an `agent:` section, or top-level keys), and a `tunnels:` list to run several (below)',
      },
      printConfigOption,
    ]),
  }
}

/** `text` with each `<!-- settings:NAME -->` … `<!-- /settings:NAME -->` block replaced by its table. */
export function withTables(text: string, tables: Record<string, string> = readmeTables()): string {
  let out = text
  for (const [name, table] of Object.entries(tables)) {
    const open = `<!-- settings:${name} -->`
    const close = `<!-- /settings:${name} -->`
    const start = out.indexOf(open)
    const end = out.indexOf(close)
    if (start === -1 || end === -1 || end < start) throw new Error(`README has no ${open} … ${close} block`)
    out = `${out.slice(0, start + open.length)}\n${table}\n${out.slice(end)}`
  }
  return out
}
