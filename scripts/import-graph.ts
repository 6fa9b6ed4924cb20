// The import graph of src/: every relative `import … from` / `export … from` (type-only ones too:
// they tie modules together for the reader just the same), with its strongly connected components.
// Used by scripts/check-imports.ts and by test/house/imports.test.ts. No compiler API needed: sluice
// writes one specifier per statement, always a relative `.ts` path.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export type ImportGraph = Map<string, Set<string>>;

const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Module → the modules it imports, as paths relative to `root` (e.g. `src/http/coalesce.ts`). */
export function importGraph(root: string, under = 'src'): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of files(join(root, under))) {
    const from = relative(root, file);
    const deps = new Set<string>();
    for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) deps.add(relative(root, resolve(dirname(file), m[1]!)));
    graph.set(from, deps);
  }
  return graph;
}

/** The import cycles: strongly connected components with more than one module (Tarjan). */
export function cycles(graph: ImportGraph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** Imports from a module under `fromDir` to one under `toDir`: `[from, to]` pairs. */
export function importsBetween(graph: ImportGraph, fromDir: string, toDir: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [from, deps] of graph) {
    if (!from.startsWith(fromDir + '/')) continue;
    for (const to of deps) if (to.startsWith(toDir + '/')) pairs.push([from, to]);
  }
  return pairs;
}
