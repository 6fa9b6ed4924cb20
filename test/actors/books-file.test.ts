// A voter's books file (cluster.booksDir): what was appended comes back on open, in any order of
// lines; a line cut short by a crash and what follows it are left out; another node's file starts a
// new lineage; a disk that refuses makes the copy stop counting (and removes the file).
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BooksFile, FileBackedCopy, load } from '../../src/actors/books-file.ts';
import type { BookEntry } from '../../src/limit/strict-books.ts';

const file = suite('books file');
const dir = mkdtempSync(join(tmpdir(), 'sluice-books-file-'));
file.after(() => rmSync(dir, { recursive: true, force: true }));

const entry = (node: string, received: number, returned = 0): BookEntry => ({ key: 't/rps/k', windowId: 9, limit: 10, windowMs: 1_000, node, received, returned });
const byNode = (es: readonly BookEntry[]) => Object.fromEntries(es.map((e) => [e.node, [e.received, e.returned]]));

file('appended updates and whole-books bounds come back on open, merged by the larger total; the lineage keeps its start', () => {
  const path = join(dir, 'a.books.jsonl');
  const { file: f, loaded } = BooksFile.open(path, 'a', 1_000);
  assert.is(loaded, undefined, 'no file yet: a new lineage');
  f.append([entry('x~1', 3)]);
  f.append([entry('x~1', 5, 1), entry('y~1', 2)], { term: 4, completeFrom: Number.NEGATIVE_INFINITY });
  f.append([entry('x~1', 4)]); // an older total arriving late changes nothing
  const again = BooksFile.open(path, 'a', 9_000);
  assert.is(again.loaded!.since, 1_000, 'the lineage began at the first open');
  assert.equal(byNode(again.loaded!.entries), { 'x~1': [5, 1], 'y~1': [2, 0] });
  assert.equal(again.loaded!.synced, { term: 4, completeFrom: Number.NEGATIVE_INFINITY });
  assert.is(again.file.since, 1_000);
});

file('a line cut short by a crash, and anything after it, is left out; the rest is kept', () => {
  const path = join(dir, 'b.books.jsonl');
  const { file: f } = BooksFile.open(path, 'b', 1);
  f.append([entry('x~1', 3)]);
  appendFileSync(path, '{"e":[{"key":"t/rps/k","windowId":9,');
  const got = load(readFileSync(path, 'utf8'), 'b')!;
  assert.equal(byNode(got.entries), { 'x~1': [3, 0] });
  assert.is(got.skippedLines, 1);
});

file('another node\'s file, or no header, starts a new lineage', () => {
  const path = join(dir, 'c.books.jsonl');
  BooksFile.open(path, 'c', 5).file.append([entry('x~1', 3)]);
  assert.is(load(readFileSync(path, 'utf8'), 'd'), undefined);
  writeFileSync(path, 'garbage\n');
  const { loaded, file: f } = BooksFile.open(path, 'c', 77);
  assert.is(loaded, undefined);
  assert.is(f.since, 77);
});

file('a disk that refuses: the copy is marked failed, the file removed, and the copy still holds the update in memory', () => {
  const path = join(dir, 'e.books.jsonl');
  const { file: f } = BooksFile.open(path, 'e', 1);
  const copy = new FileBackedCopy(f, () => undefined);
  copy.merge([entry('x~1', 1)]);
  assert.not.ok(copy.failed);
  rmSync(path);
  mkdirSync(path); // appending to a directory fails
  copy.merge([entry('x~1', 2)]);
  assert.ok(copy.failed, 'it says it could not hold the update on disk');
  assert.equal(byNode(copy.all()), { 'x~1': [2, 0] });
});

file('lines that outgrow the copy rewrite the file: the same copy, one line', () => {
  const path = join(dir, 'f.books.jsonl');
  const { file: f } = BooksFile.open(path, 'f', 1);
  const copy = new FileBackedCopy(f, () => ({ term: 2, completeFrom: 50 }));
  for (let n = 1; n <= 10_050; n++) copy.merge([entry('x~1', n)]);
  const text = readFileSync(path, 'utf8').trim().split('\n');
  assert.ok(text.length < 100, `rewritten (${text.length} lines)`);
  const got = load(readFileSync(path, 'utf8'), 'f')!;
  assert.equal(byNode(got.entries), { 'x~1': [10_050, 0] });
  assert.equal(got.synced, { term: 2, completeFrom: 50 });
});

file.run();
