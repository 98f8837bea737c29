// Reads a systemd unit file into sections of key → values (a key may repeat,
// e.g. SystemCallFilter=). Comments (# ;) and blank lines are dropped;
// backslash continuations are joined. Enough for the deploy tests.

export type Ini = Map<string, Map<string, string[]>>

export function parseIni(text: string): Ini {
  const sections: Ini = new Map()
  let current: Map<string, string[]> | undefined
  let pending = ''
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim()
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';'))) continue
    if (trimmed.endsWith('\\')) {
      pending += trimmed.slice(0, -1) + ' '
      continue
    }
    const line = pending + trimmed
    pending = ''
    const section = /^\[([^\]]+)\]$/.exec(line)
    if (section !== null) {
      current = sections.get(section[1]!) ?? new Map()
      sections.set(section[1]!, current)
      continue
    }
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`line ${i + 1} is neither a [section] nor key=value: ${line}`)
    if (current === undefined) throw new Error(`line ${i + 1}: key outside any section`)
    const key = line.slice(0, eq).trim()
    const values = current.get(key) ?? []
    values.push(line.slice(eq + 1).trim())
    current.set(key, values)
  }
  if (pending !== '') throw new Error('dangling line continuation at end of file')
  return sections
}

/** The last value of a key (systemd's rule for single-valued settings). */
export function lastValue(ini: Ini, section: string, key: string): string | undefined {
  return ini.get(section)?.get(key)?.at(-1)
}
