// npm run bench:ab -- [--ref REF] [--rounds N] [--seconds S] [--column NAME] [--key-columns K] [--no-write] [scenario]
//
// Compares this checkout with an older commit on one scenario, interleaved: rounds alternate
// old, new, old, new… in two worktrees, so a busy neighbour or a CPU that warms up slows both
// sides alike instead of one whole side. A single run per side swung 0.5–2.2× per row on this
// 2-core machine; the median of interleaved rounds is the figure. Writes its own section of
// BENCHMARKS.md (`ab-<scenario>`), the old side's numbers and the ratio per row.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './harness.ts';
import { renderSection, writeSection } from './sections.ts';
import { compareRounds, parseTable, type Table } from './ab-table.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true, options: {
    ref: { type: 'string', default: 'c9fcdf3' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '2' },
    column: { type: 'string', default: 'decisions/s' },
    'key-columns': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const scenario = positionals[0] ?? 'strict';
const rounds = Number(values.rounds);

const git = (...args: string[]) => {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const oldSha = git('rev-parse', '--short', values.ref!);
const newSha = git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain') ? '+changes' : '');

/** The old side: a detached worktree of the ref, sharing this checkout's node_modules. */
function oldCheckout(): string {
  const dir = join(tmpdir(), `sluice-bench-ab-${oldSha}`);
  if (!existsSync(dir)) git('worktree', 'add', '--detach', dir, oldSha);
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) symlinkSync(join(ROOT, 'node_modules'), modules);
  return dir;
}

/** Runs that crashed and were run again (an older bench may throw where a newer one counts). */
let retried = 0;

function runOnce(cwd: string, label: string, round: number, attempt = 1): Table {
  process.stderr.write(`round ${round + 1}/${rounds}: ${label} … `);
  // Older benches had no --no-write: they then rewrite the old worktree's own BENCHMARKS.md, which is thrown away.
  const noWrite = readFileSync(join(cwd, 'bench/run.ts'), 'utf8').includes("'no-write'") ? ['--no-write'] : [];
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', scenario, '--seconds', values.seconds!, ...noWrite],
    { cwd, encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0) {
    if (attempt >= 3) throw new Error(`${label}: bench exited with ${r.status} three times\n${r.stderr}`);
    process.stderr.write(`failed (exit ${r.status}: ${r.stderr.split('\n').find((l) => /Error/.test(l)) ?? ''}); again\n`);
    retried++;
    return runOnce(cwd, label, round, attempt + 1);
  }
  process.stderr.write('done\n');
  return parseTable(r.stdout, values['key-columns'] === undefined ? undefined : Number(values['key-columns']));
}

const oldDir = oldCheckout();
const olds: Table[] = [];
const news: Table[] = [];
for (let i = 0; i < rounds; i++) {
  olds.push(runOnce(oldDir, oldSha, i));
  news.push(runOnce(ROOT, newSha, i));
}
const rows = compareRounds(olds, news, values.column!);
const pad = (s: string, n: number) => s.padEnd(n);
const width = Math.max(...rows.map((r) => r.name.length), 3);
const lines = [
  `## ${scenario}: this commit against ${oldSha}, ${values.column}, median of ${rounds} interleaved rounds (${values.seconds} s each)`,
  '',
  `| ${pad('row', width)} | ${oldSha} | ${newSha} | ratio | ratio range |`,
  `|${'-'.repeat(width + 2)}|---|---|---|---|`,
  ...rows.map((r) => `| ${pad(r.name, width)} | ${Math.round(r.oldMedian)} | ${Math.round(r.newMedian)} | **${r.ratio.toFixed(2)}×** | ${r.minRatio.toFixed(2)}–${r.maxRatio.toFixed(2)}× |`),
  '',
  'ratio = new median ÷ old median; the range is over rounds (each round\'s new ÷ the same round\'s old).' +
    (retried ? ` ${retried} run(s) crashed and were run again.` : ''),
];
const markdown = lines.join('\n');
console.log(markdown);
if (!values['no-write']) {
  const file = join(ROOT, 'BENCHMARKS.md');
  const command = ['npm run bench:ab --', '--ref', values.ref, '--rounds', values.rounds, '--seconds', values.seconds, scenario].join(' ');
  const machine = `${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version.slice(1)}`;
  const name = `ab-${scenario}`;
  writeFileSync(file, writeSection(readFileSync(file, 'utf8'), name, renderSection(name, markdown, { command, at: new Date(), machine })));
  console.log(`(BENCHMARKS.md: section ${name} written)`);
}
