/**
 * The first entry of a header that may repeat or hold a list
 * (`X-Forwarded-Proto: https, http` → `https`), or undefined when empty.
 */
export function firstHeaderValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value
  return v?.split(',')[0]?.trim() || undefined
}
