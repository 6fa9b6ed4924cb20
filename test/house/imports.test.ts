// The request path reads one way (STYLE.md, "The house today"; issue #10): src/http calls into
// src/actors and writes what it gets; src/actors never imports src/http, and src/ has no import
// cycle at all (type-only imports included). The graph is read from the sources as they are.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { cycles, importGraph, importsBetween } from '../../scripts/import-graph.ts';

const house = suite('import graph');
const root = fileURLToPath(new URL('../..', import.meta.url));

house('src/actors imports nothing from src/http', () => {
  assert.equal(importsBetween(importGraph(root), 'src/actors', 'src/http'), []);
});

house('src has no import cycle', () => {
  assert.equal(cycles(importGraph(root)), []);
});

house('the checker sees a cycle when there is one (so the two checks above can fail)', () => {
  const graph = new Map([
    ['src/http/coalesce.ts', new Set(['src/actors/target-runtime.ts'])],
    ['src/actors/target-runtime.ts', new Set(['src/actors/batching/batching.ts'])],
    ['src/actors/batching/batching.ts', new Set(['src/http/coalesce.ts'])],
    ['src/proxy/headers.ts', new Set<string>()],
  ]);
  assert.equal(cycles(graph), [['src/actors/batching/batching.ts', 'src/actors/target-runtime.ts', 'src/http/coalesce.ts']]);
  assert.equal(importsBetween(graph, 'src/actors', 'src/http'), [['src/actors/batching/batching.ts', 'src/http/coalesce.ts']]);
});

house('imports are read from real sources: the HTTP handlers import the target runtime', () => {
  const graph = importGraph(root);
  assert.ok(graph.get('src/http/target-handler.ts')?.has('src/http/coalesce.ts'));
  assert.ok(graph.get('src/http/coalesce.ts')?.has('src/actors/batch-registry.ts'));
});

house.run();
