// The pure half of `bench:ab`: reads a scenario's markdown table and compares rounds of two sides.

/** Row key (name and in-flight, counts in parentheses dropped) → column name → value. */
export type Table = Map<string, Map<string, number>>;

export interface Comparison { name: string; oldMedian: number; newMedian: number; ratio: number; minRatio: number; maxRatio: number }

const cells = (line: string) => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());

/**
 * The first markdown table in a scenario's output. A row's key is its first `keyColumns` cells
 * (counts in parentheses dropped: a run may append "(12 refused)"), so rows of the same limiter at
 * different concurrencies, or of the same proxy at different burst sizes, stay apart. With the
 * default (undefined), the second cell joins the key only when it is a whole number (strict's
 * in-flight column).
 */
export function parseTable(markdown: string, keyColumns?: number): Table {
  const lines = markdown.split('\n').filter((l) => l.trim().startsWith('|'));
  const table: Table = new Map();
  if (lines.length < 3) return table;
  const header = cells(lines[0]!);
  for (const line of lines.slice(2)) {
    const row = cells(line);
    if (row.length !== header.length) break; // a second table starts
    const names = row.map((c) => c.replace(/\s*\(\d[^)]*\)/g, ''));
    const width = keyColumns ?? (/^\d+$/.test(row[1] ?? '') ? 2 : 1);
    const key = names.slice(0, width).join(' · ');
    const values = new Map<string, number>();
    header.forEach((h, i) => {
      const n = Number(row[i]!.replace(/[%×*,\s]/g, ''));
      if (row[i] !== '' && Number.isFinite(n)) values.set(h, n);
    });
    table.set(key, values);
  }
  return table;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Per row present on both sides in every round: medians, their ratio, and the range of per-round ratios. */
export function compareRounds(olds: Table[], news: Table[], column: string): Comparison[] {
  if (olds.length !== news.length || olds.length === 0) throw new Error('compareRounds: one old and one new table per round');
  const out: Comparison[] = [];
  for (const name of olds[0]!.keys()) {
    const pairs = olds.map((o, i) => [o.get(name)?.get(column), news[i]!.get(name)?.get(column)] as const);
    if (pairs.some(([o, n]) => o === undefined || n === undefined)) continue;
    const oldVals = pairs.map(([o]) => o!);
    const newVals = pairs.map(([, n]) => n!);
    const perRound = pairs.map(([o, n]) => n! / o!);
    out.push({
      name, oldMedian: median(oldVals), newMedian: median(newVals),
      ratio: median(newVals) / median(oldVals), minRatio: Math.min(...perRound), maxRatio: Math.max(...perRound),
    });
  }
  return out;
}
