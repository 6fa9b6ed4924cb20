import { suite } from './support/suite.ts';
import * as assert from 'uvu/assert';
import { anySignal, LightAbortController } from '../src/abort.ts';

const abort = suite('light abort signal');

abort('fires each listener once with the abort event, and a default AbortError reason', () => {
  const c = new LightAbortController();
  const seen: string[] = [];
  const kept = (e: Event) => seen.push(`kept:${e.type}`);
  const removed = () => seen.push('removed');
  c.signal.addEventListener('abort', kept);
  c.signal.addEventListener('abort', removed);
  c.signal.removeEventListener('abort', removed);
  c.signal.onabort = () => seen.push('onabort');
  assert.is(c.signal.aborted, false);
  c.abort();
  c.abort('again');
  assert.equal(seen, ['onabort', 'kept:abort']);
  assert.is(c.signal.aborted, true);
  assert.instance(c.signal.reason, DOMException);
  assert.is((c.signal.reason as DOMException).name, 'AbortError');
  assert.throws(() => c.signal.throwIfAborted(), (e: unknown) => e === c.signal.reason);
});

abort('keeps the reason it was aborted with', () => {
  const c = new LightAbortController();
  const why = new Error('deadline');
  c.abort(why);
  assert.is(c.signal.reason, why);
});

abort('anySignal aborts with the reason of the first input to abort, or at once if one already has', () => {
  const a = new LightAbortController();
  const b = new AbortController();
  const any = anySignal([a.signal, b.signal]);
  b.abort('b first');
  a.abort('a later');
  assert.is(any.reason, 'b first');
  const done = new LightAbortController();
  done.abort('before');
  assert.is(anySignal([done.signal, new LightAbortController().signal]).reason, 'before');
});

abort.run();
