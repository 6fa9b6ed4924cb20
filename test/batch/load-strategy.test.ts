import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCode } from '../../src/errors.ts';
import { jsonArray } from '../../src/batch/json-array.ts';
import { keyed } from '../../src/batch/keyed.ts';
import { loadMergeStrategy, strategyFromModule } from '../../src/batch/load-strategy.ts';

const here = dirname(fileURLToPath(import.meta.url));
const isInvalidArgument = (e: unknown): boolean => (e as { code?: string }).code === ErrorCode.InvalidArgument;

async function rejects(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try { await p; } catch (e) { return e as Error & { code?: string }; }
  throw new Error('expected a rejection');
}

const loader = suite('merge strategy loader');

loader('built-in names give the built-in strategies', async () => {
  assert.is(await loadMergeStrategy('json-array'), jsonArray);
  assert.is(await loadMergeStrategy('keyed'), keyed);
});

loader('loads a module with named exports, relative to baseDir', async () => {
  const s = await loadMergeStrategy('./fixtures/lines-strategy.ts', { baseDir: here });
  assert.is(s.name, 'lines');
  assert.is(s.retrySafe, true);
  const merged = s.merge([{ id: 'a', body: Buffer.from('x') }, { id: 'b', body: Buffer.from('y') }]);
  assert.is(merged.body.toString(), 'x\ny');
  assert.is(merged.contentType, 'text/plain');
});

loader('a custom split is made whole: string bodies become bytes and a missing item is answered 502', async () => {
  const s = await loadMergeStrategy(join(here, 'fixtures/lines-strategy.ts'));
  const out = s.split({ status: 200, body: Buffer.from('X') }, ['a', 'b']);
  assert.ok(Buffer.isBuffer(out.perItem.get('a')?.body));
  assert.is(out.perItem.get('a')?.body.toString(), 'X');
  assert.is(out.perItem.get('b')?.status, 502);
  assert.is(out.perItem.get('b')?.error?.code, ErrorCode.BadUpstreamReply);
});

loader('loads a module from its default export, named for its path, not retry safe by default', async () => {
  const url = pathToFileURL(join(here, 'fixtures/default-strategy.ts')).href;
  const s = await loadMergeStrategy(url);
  assert.is(s.name, url);
  assert.is(s.retrySafe, false);
  assert.is(s.merge([{ id: 'a', body: Buffer.from('1') }]).body.toString(), '1');
});

loader('a throwing split fails every item 502 instead of throwing', async () => {
  const s = await loadMergeStrategy('./fixtures/default-strategy.ts', { baseDir: here });
  const out = s.split({ status: 200, body: Buffer.alloc(0) }, ['a', 'b']);
  assert.ok(out.error?.includes('empty reply'));
  for (const id of ['a', 'b']) assert.is(out.perItem.get(id)?.status, 502);
});

loader('a malformed per-item answer from a custom split becomes 502 for that item', async () => {
  const s = await loadMergeStrategy('./fixtures/default-strategy.ts', { baseDir: here });
  const out = s.split({ status: 200, body: Buffer.from('z') }, ['a']);
  assert.is(out.perItem.get('a')?.status, 502);
});

loader('a module of the wrong shape is an InvalidArgumentError naming every problem', async () => {
  const e = await rejects(loadMergeStrategy('./fixtures/no-split-strategy.ts', { baseDir: here }));
  assert.ok(isInvalidArgument(e));
  assert.ok(e.message.includes('split is missing'));
  assert.ok(e.message.includes('retrySafe is string'));
  assert.ok(e.message.includes('no-split-strategy.ts'));
});

loader('a merge result of the wrong shape throws InvalidArgumentError', async () => {
  const s = await loadMergeStrategy('./fixtures/bad-merge-strategy.ts', { baseDir: here });
  assert.throws(() => s.merge([]), isInvalidArgument);
});

loader('a module that cannot be loaded is an InvalidArgumentError with the cause', async () => {
  const e = await rejects(loadMergeStrategy('./fixtures/does-not-exist.ts', { baseDir: here }));
  assert.ok(isInvalidArgument(e));
  assert.ok(e.cause);
  assert.ok(isInvalidArgument(await rejects(loadMergeStrategy('  '))));
});

loader('strategyFromModule rejects values that are not modules', () => {
  for (const mod of [undefined, null, 42, {}, { merge: () => ({}) }]) {
    assert.throws(() => strategyFromModule(mod, 'test'), isInvalidArgument);
  }
});

loader.run();
