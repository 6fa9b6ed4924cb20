// node --import tsx scripts/check-imports.ts: prints src/'s import cycles and any import from
// src/actors into src/http (the request path reads one way: http → actors). Exits 1 on either.
import { fileURLToPath } from 'node:url';
import { cycles, importGraph, importsBetween } from './import-graph.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const graph = importGraph(root);
const found = cycles(graph);
const backwards = importsBetween(graph, 'src/actors', 'src/http');
console.log(`${graph.size} modules, ${[...graph.values()].reduce((n, d) => n + d.size, 0)} imports`);
for (const c of found) console.log(`cycle (${c.length} modules): ${c.join(' → ')}`);
for (const [from, to] of backwards) console.log(`actors import http: ${from} → ${to}`);
if (found.length === 0 && backwards.length === 0) console.log('no import cycles; src/actors imports nothing from src/http');
process.exit(found.length > 0 || backwards.length > 0 ? 1 : 0);
