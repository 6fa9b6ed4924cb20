// Cache-Control parsing for the decisions the library leaves to us (request directives, RFC 5861
// windows): names lower case, `true` for a bare directive, the unquoted value otherwise.
export type Directives = ReadonlyMap<string, string | true>;

export function parseDirectives(header: string | undefined): Directives {
  const out = new Map<string, string | true>();
  if (!header) return out;
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    const value = eq < 0 ? true : part.slice(eq + 1).trim().replace(/^"|"$/g, '');
    // RFC 9111 §4.2.1: a directive given twice is invalid; the first one is kept, as most caches do.
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/** A delta-seconds directive in ms; undefined when absent or not a non-negative integer. */
export function secondsMs(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  return Number(v) * 1000;
}
