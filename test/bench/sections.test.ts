import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { renderSection, writeSection } from '../../bench/sections.ts';

const sections = suite('BENCHMARKS.md sections');
const run = { command: 'npm run bench -- coalesce --seconds 3', at: new Date('2026-12-02T03:40:00Z'), machine: '2 cores' };

sections('a run replaces only its own section, keeping the text around it', () => {
  const doc = '# Benchmarks\n\nintro\n\n' + renderSection('coalesce', '## C\n\nold 1', run) + '\n\nbetween\n\n' +
    renderSection('merge', '## M\n\nold 2', run) + '\n\nnotes\n';
  const next = writeSection(doc, 'coalesce', renderSection('coalesce', '## C\n\nnew 1', run));
  assert.ok(next.includes('new 1'));
  assert.not.ok(next.includes('old 1'));
  assert.ok(next.includes('old 2'));
  assert.ok(next.startsWith('# Benchmarks\n\nintro\n\n<!-- bench:coalesce -->'));
  assert.ok(next.includes('<!-- /bench:coalesce -->\n\nbetween\n\n<!-- bench:merge -->'));
  assert.ok(next.endsWith('<!-- /bench:merge -->\n\nnotes\n'));
});

sections('a scenario without a section yet gets one appended', () => {
  const next = writeSection('# Benchmarks\n\nintro\n', 'fleet', renderSection('fleet', '## F\n\nrows', run));
  assert.match(next, /^# Benchmarks\n\nintro\n\n<!-- bench:fleet -->\n<a id="bench-fleet"><\/a>\n\n## F\n\nrows\n\n/);
  assert.ok(next.endsWith('<!-- /bench:fleet -->\n'));
});

sections('the section names the command and date of its run', () => {
  const s = renderSection('coalesce', '## C', run);
  assert.ok(s.includes('`npm run bench -- coalesce --seconds 3`'));
  assert.ok(s.includes('2026-12-02 03:40 UTC'));
});

sections('writing twice gives the same document (one section, not two)', () => {
  const once = writeSection('# B\n', 'x', renderSection('x', 'a', run));
  assert.is(writeSection(once, 'x', renderSection('x', 'a', run)), once);
  assert.is(once.split('<!-- bench:x -->').length, 2);
});

sections('an opening marker without its close is refused, not overwritten', () => {
  assert.throws(() => writeSection('<!-- bench:x -->\nhalf', 'x', 'new'), /without/);
});

sections.run();
