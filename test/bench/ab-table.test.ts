import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { compareRounds, parseTable } from '../../bench/ab-table.ts';

const ab = suite('bench:ab tables');

const table = (a1: number, a50: number, note = '') => `## Strict\n\n` +
  `| limiter | in flight | decisions/s | p50 µs | local decisions |\n|---|---|---|---|---|\n` +
  `| prefetch on${note} | 1 | ${a1} | 0.3 | 100.00% |\n| prefetch on | 50 | ${a50} | 0.4 | 99.98% |\n` +
  `| redis | 1 | 10 | 44 | — |\n\nOver NATS: **145×**\n`;

ab('rows are keyed by name and in-flight, notes in parentheses dropped, cells read as numbers', () => {
  const t = parseTable(table(100, 200, ' (12 refused)'));
  assert.equal([...t.keys()], ['prefetch on · 1', 'prefetch on · 50', 'redis · 1']);
  assert.is(t.get('prefetch on · 1')!.get('decisions/s'), 100);
  assert.is(t.get('prefetch on · 50')!.get('local decisions'), 99.98);
  assert.is(t.get('redis · 1')!.get('local decisions'), undefined);
});

ab('the ratio is new median over old median; the range is per round', () => {
  const olds = [table(100, 200), table(300, 200), table(200, 200)].map((t) => parseTable(t));
  const news = [table(100, 100), table(150, 100), table(400, 100)].map((t) => parseTable(t));
  const rows = compareRounds(olds, news, 'decisions/s');
  const first = rows.find((r) => r.name === 'prefetch on · 1')!;
  assert.is(first.oldMedian, 200);
  assert.is(first.newMedian, 150);
  assert.is(first.ratio, 0.75);
  assert.is(first.minRatio, 0.5);
  assert.is(first.maxRatio, 2);
  assert.is(rows.find((r) => r.name === 'prefetch on · 50')!.ratio, 0.5);
});

ab('a row missing from any round is left out rather than compared with nothing', () => {
  const olds = [parseTable(table(100, 200)), parseTable(table(100, 200).replace(/\| prefetch on \| 50[^\n]*\n/, ''))];
  const news = [parseTable(table(100, 200)), parseTable(table(100, 200))];
  assert.equal(compareRounds(olds, news, 'decisions/s').map((r) => r.name), ['prefetch on · 1', 'redis · 1']);
});

ab('keyColumns names rows by their first cells, for tables whose second column is text', () => {
  const burst = `| N | proxy | calls | p99 ms |\n|---|---|---|---|\n| 10 | sluice | 1.00 | 50.5 |\n| 10 | nginx | 1.00 | 505.1 |\n` +
    `| 1000 | sluice | 1.00 | 104.7 |\n`;
  const t = parseTable(burst, 2);
  assert.equal([...t.keys()], ['10 · sluice', '10 · nginx', '1000 · sluice']);
  assert.is(t.get('1000 · sluice')!.get('p99 ms'), 104.7);
  assert.equal([...parseTable(burst).keys()], ['10', '1000'], 'without it the text column is not part of the key');
});

ab.run();
