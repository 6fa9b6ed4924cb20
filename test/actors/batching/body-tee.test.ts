// The body tee with in-memory streams: every sink gets every chunk as it comes, a stalled sink holds
// no one else up and is cut past its lag limit, the source is abandoned only when no sink is left,
// and a source error cuts every sink.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { PassThrough, Writable } from 'node:stream';
import { BodyTee } from '../../../src/actors/batching/body-tee.ts';
import { ManualScheduler } from '../../../src/clock.ts';

class Sink extends Writable {
  chunks: string[] = [];
  stalled = false;
  private held: Array<() => void> = [];
  constructor() { super({ highWaterMark: 4 }); }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString());
    if (this.stalled) this.held.push(cb); else cb();
  }
  release(): void { this.stalled = false; for (const cb of this.held.splice(0)) cb(); }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

const tee = suite('body tee');

tee('every sink gets each chunk as soon as the source yields it, then the end', async () => {
  const source = new PassThrough();
  const t = new BodyTee(source);
  const a = new Sink(); const b = new Sink();
  const done: Array<[string, boolean]> = [];
  t.attach(a, { bodyDone: (ok) => done.push(['a', ok]) });
  t.attach(b, { bodyDone: (ok) => done.push(['b', ok]) });
  t.start();
  source.write('one');
  await tick();
  assert.equal(a.chunks, ['one']);
  assert.equal(b.chunks, ['one']);
  source.end('two');
  await tick();
  assert.equal(a.chunks, ['one', 'two']);
  assert.equal(b.chunks, ['one', 'two']);
  assert.equal(done.sort(), [['a', true], ['b', true]]);
});

tee('a stalled sink neither stops the others nor keeps the source paused, and is cut past its lag limit', async () => {
  const source = new PassThrough();
  let ended: boolean | undefined;
  const t = new BodyTee(source, { maxBufferedBytes: 10, onEnd: (ok) => { ended = ok; } });
  const slow = new Sink(); slow.stalled = true;
  const fast = new Sink();
  let slowDone: boolean | undefined;
  t.attach(slow, { bodyDone: (ok) => { slowDone = ok; } });
  t.attach(fast);
  t.start();
  for (const c of ['aaaa', 'bbbb', 'cccc', 'dddd']) { source.write(c); await tick(); }
  assert.equal(fast.chunks, ['aaaa', 'bbbb', 'cccc', 'dddd']);
  assert.is(slowDone, false, 'cut once more than 10 bytes were waiting');
  assert.ok(slow.destroyed);
  source.end('eeee');
  await tick();
  assert.equal(fast.chunks.at(-1), 'eeee');
  assert.is(ended, true);
});

tee('the source pauses only while every sink is full, and resumes when one drains', async () => {
  const source = new PassThrough();
  const t = new BodyTee(source, { maxBufferedBytes: 1_000 });
  const a = new Sink(); a.stalled = true;
  const b = new Sink(); b.stalled = true;
  t.attach(a); t.attach(b);
  t.start();
  source.write('12345');
  await tick();
  assert.ok(source.isPaused(), 'both sinks are over their high-water mark');
  a.release();
  await tick();
  assert.not.ok(source.isPaused());
});

tee('the source is abandoned when the last sink goes, not before', async () => {
  const source = new PassThrough();
  let ended: boolean | undefined;
  const t = new BodyTee(source, { onEnd: (ok) => { ended = ok; } });
  const a = new Sink(); const b = new Sink();
  t.attach(a); t.attach(b);
  t.start();
  source.write('x');
  await tick();
  a.destroy();
  await tick();
  assert.not.ok(source.destroyed);
  source.write('y');
  await tick();
  assert.equal(b.chunks, ['x', 'y']);
  b.destroy();
  await tick();
  assert.ok(source.destroyed);
  assert.is(ended, false);
});

tee('with no sink at all the source is abandoned at start', () => {
  const source = new PassThrough();
  new BodyTee(source).start();
  assert.ok(source.destroyed);
});

tee('a source error cuts every sink', async () => {
  const source = new PassThrough();
  const t = new BodyTee(source);
  const a = new Sink(); const b = new Sink();
  const done: boolean[] = [];
  t.attach(a, { bodyDone: (ok) => done.push(ok) }); t.attach(b, { bodyDone: (ok) => done.push(ok) });
  t.start();
  source.destroy(new Error('reset'));
  await tick();
  assert.ok(a.destroyed && b.destroyed);
  assert.equal(done, [false, false]);
});

tee('a sink attached mid-body gets what has passed, then the rest: the same bytes as the first', async () => {
  const source = new PassThrough();
  let overflowed = false;
  const t = new BodyTee(source, { keepBytes: 100, onOverflow: () => { overflowed = true; } });
  const a = new Sink();
  t.attach(a);
  t.start();
  source.write('one');
  source.write('two');
  await tick();
  assert.ok(t.attachable);
  const late = new Sink();
  const done: boolean[] = [];
  t.attach(late, { bodyDone: (ok) => done.push(ok) });
  assert.equal(late.chunks, ['one', 'two'], 'the kept chunks at once');
  source.end('three');
  await tick();
  assert.equal(late.chunks.join(''), a.chunks.join(''));
  assert.equal(late.chunks.join(''), 'onetwothree');
  assert.equal(done, [true]);
  assert.not.ok(overflowed);
  assert.is(t.body?.toString(), 'onetwothree', 'the whole body, for a cache fill');
  assert.not.ok(t.attachable, 'nobody attaches after the end');
});

tee('past keepBytes the kept chunks are let go, late sinks are refused and the body is not offered', async () => {
  const source = new PassThrough();
  let overflows = 0;
  const t = new BodyTee(source, { keepBytes: 5, onOverflow: () => { overflows++; } });
  const a = new Sink();
  t.attach(a);
  t.start();
  source.write('abcd');
  await tick();
  assert.ok(t.attachable);
  source.write('ef');
  await tick();
  assert.is(overflows, 1);
  assert.not.ok(t.attachable);
  assert.throws(() => t.attach(new Sink()), /passed keepBytes/);
  source.end('g');
  await tick();
  assert.is(a.chunks.join(''), 'abcdefg', 'the sinks already there still get it all');
  assert.is(t.body, undefined);
  assert.is(overflows, 1, 'told once');
});

tee('without keepBytes a sink may attach after start only until the first byte has passed', async () => {
  const source = new PassThrough();
  const t = new BodyTee(source);
  t.attach(new Sink());
  t.start();
  assert.ok(t.attachable, 'nothing has passed yet: a late sink misses nothing');
  source.write('x');
  await tick();
  assert.not.ok(t.attachable);
});

tee('many sinks are ended a batch a turn once the body ends; one attaching meanwhile gets the whole body and ends', async () => {
  const source = new PassThrough();
  const turns = new ManualScheduler();
  let ended = 0;
  const t = new BodyTee(source, { keepBytes: 1024, nextTurn: turns.schedule, onEnd: (ok) => { if (ok) ended++; } });
  const sinks = Array.from({ length: 40 }, () => new Sink());
  for (const k of sinks) t.attach(k);
  t.start();
  source.end('body');
  await tick();
  const endedSinks = (): number => sinks.filter((k) => k.writableEnded).length;
  assert.ok(endedSinks() > 0 && endedSinks() < 40, `a first batch, not all 40 (${endedSinks()})`);
  assert.is(ended, 0, 'the body counts as ended once every sink is');
  assert.ok(t.attachable, 'a request read between batches still joins');
  const late = new Sink();
  t.attach(late);
  assert.equal([late.chunks, late.writableEnded], [['body'], true]);
  while (turns.pending > 0) turns.runTurn();
  assert.is(endedSinks(), 40);
  assert.is(ended, 1);
  assert.is(t.attachable, false, 'after the last batch, a new call');
  assert.ok(sinks.every((k) => k.chunks.join('') === 'body'));
});

tee.run();
