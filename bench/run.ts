// npm run bench [-- scenario…] [--seconds N]: runs the scenarios side by side with their baselines and
// prints markdown tables with ratios. Never part of npm test.
import { parseArgs } from 'node:util';
import { stopAll } from './harness.ts';
import { dispatch } from './scenarios/dispatch.ts';
import { passthrough } from './scenarios/passthrough.ts';
import { limiter } from './scenarios/limiter.ts';
import { strict } from './scenarios/strict.ts';
import { coalesce } from './scenarios/coalesce.ts';
import { merge } from './scenarios/merge.ts';
import { fleet } from './scenarios/fleet.ts';

const scenarios: Record<string, (durationS: number) => Promise<string>> = { passthrough, limiter, strict, dispatch, coalesce, merge, fleet };

const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string', default: '5' } } });
const chosen = positionals.length ? positionals : Object.keys(scenarios);
for (const name of chosen) {
  const run = scenarios[name];
  if (!run) { console.error(`unknown scenario ${name}; choose from ${Object.keys(scenarios).join(', ')}`); process.exit(2); }
  console.log(await run(Number(values.seconds)));
}
stopAll();
process.exit(0);
