// npm run bench [-- scenario…] [--seconds N] [--no-write]: runs the scenarios side by side with their
// baselines, prints markdown tables with ratios, and writes each scenario's section of BENCHMARKS.md
// (bench/sections.ts) as soon as it finishes. --no-write only prints. Never part of npm test.
//
// A scenario is `(durationS) => Promise<markdown>`; add it to the table below and its section, named
// after its key, appears in BENCHMARKS.md on its first run.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, stopAll } from './harness.ts';
import { renderSection, writeSection } from './sections.ts';
import { dispatch } from './scenarios/dispatch.ts';
import { passthrough } from './scenarios/passthrough.ts';
import { limiter } from './scenarios/limiter.ts';
import { strict } from './scenarios/strict.ts';
import { coalesce } from './scenarios/coalesce.ts';
import { coalesceSteady } from './scenarios/coalesce-steady.ts';
import { merge } from './scenarios/merge.ts';
import { fleet } from './scenarios/fleet.ts';
import { cache } from './scenarios/cache.ts';
import { policies, policyRows, policySummary } from './scenarios/policies.ts';

const scenarios: Record<string, (durationS: number) => Promise<string>> = { passthrough, limiter, strict, dispatch, coalesce, 'coalesce-steady': coalesceSteady, merge, fleet, policies, cache };
/** Scenarios that can print their rows as one JSON array (`--json`) instead of a table. */
const jsonScenarios: Record<string, () => Promise<unknown[]>> = { policies: policyRows };
/** Scenarios whose summary README.md quotes: written into README's section of the same name, from the same run. */
const readmeSummaries: Record<string, () => string> = { policies: () => policySummary() };

const { values, positionals } = parseArgs({
  allowPositionals: true, options: {
    seconds: { type: 'string', default: '5' }, 'no-write': { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
  },
});
const chosen = positionals.length ? positionals : Object.keys(scenarios);
const unknown = chosen.filter((n) => !scenarios[n]);
if (unknown.length) { console.error(`unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(scenarios).join(', ')}`); process.exit(2); }

const file = join(ROOT, 'BENCHMARKS.md');
const command = ['npm run bench --', ...positionals, '--seconds', values.seconds].join(' ');
const machine = `${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version.slice(1)}`;
if (values.json) {
  const rows: unknown[] = [];
  for (const name of chosen) {
    const json = jsonScenarios[name];
    if (!json) { console.error(`scenario ${name} has no --json form; these do: ${Object.keys(jsonScenarios).join(', ')}`); process.exit(2); }
    rows.push(...(await json()));
  }
  console.log(JSON.stringify(rows));
  stopAll();
  process.exit(0);
}
for (const name of chosen) {
  const markdown = await scenarios[name]!(Number(values.seconds));
  console.log(markdown);
  if (values['no-write']) continue;
  const doc = readFileSync(file, 'utf8');
  writeFileSync(file, writeSection(doc, name, renderSection(name, markdown, { command, at: new Date(), machine })));
  const summary = readmeSummaries[name]?.();
  if (summary) {
    const readme = join(ROOT, 'README.md');
    writeFileSync(readme, writeSection(readFileSync(readme, 'utf8'), name, renderSection(name, summary, { command, at: new Date(), machine })));
    console.log(`(README.md: section ${name} written)`);
  }
  console.log(`(BENCHMARKS.md: section ${name} written)\n`);
}
stopAll();
process.exit(0);
