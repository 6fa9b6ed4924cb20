// The holder's replicator without a majority (issue #12, item d): what it keeps waiting is bounded.
// Voters that never answer: a push is answered false after a bounded time (the node hears "not
// holder" and asks again), and entries of windows long over stop being sent.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../../src/clock.ts';
import { LocalNetwork } from '../../../src/bus/local-bus.ts';
import { BookReplicator } from '../../../src/actors/limits/strict-replicator.ts';
import { BookCopy, type BookEntry } from '../../../src/limit/strict-books.ts';

const rep = suite('book replicator without a majority, and with a voter in its grace');

const W = 1_000;
const TIMEOUT_MS = 50;
const entry = (windowId: number, received: number): BookEntry => ({ key: 'k', windowId, limit: 10, windowMs: W, node: 'n', received, returned: 0 });

async function setup() {
  const clock = new VirtualClock(1_700_000_000_000);
  const net = new LocalNetwork(clock, { delayMs: () => 1 });
  const holder = net.connect('a');
  // Voter b takes every update and never answers (a slow or cut-off voter); c is down (no responder).
  const seen: BookEntry[][] = [];
  net.connect('b').subscribe('sluice.t.singleton.books.b', (m) => { seen.push((m.data as unknown as { entries: BookEntry[] }).entries); });
  const replicator = new BookReplicator(holder, clock, {
    voters: () => ['b', 'c'], quorum: () => 2, selfVotes: true, ownCopy: new BookCopy(), stale: () => {},
  }, { cluster: 't', nodeId: 'a', term: 1, timeoutMs: TIMEOUT_MS });
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 5) { clock.advance(5); await new Promise((r) => setImmediate(r)); }
  };
  return { clock, replicator, seen, run };
}

rep('a push no quorum holds is answered false within a bounded time, not kept forever', async () => {
  const { clock, replicator, run } = await setup();
  const w = Math.floor(clock.now() / W);
  let answer: boolean | undefined;
  void replicator.push([entry(w, 3)]).then((ok) => { answer = ok; });
  await run(5 * TIMEOUT_MS);
  assert.is(answer, undefined, 'still waiting a little while');
  // The bound is checked when the replicator next works (a retry or a new push).
  await run(12 * TIMEOUT_MS);
  void replicator.push([entry(w, 4)]);
  await run(20);
  assert.is(answer, false, 'given up: the node hears "not holder" and asks again');
  replicator.stop();
});

rep('entries of windows over for a whole window are no longer sent', async () => {
  const { clock, replicator, seen, run } = await setup();
  const w = Math.floor(clock.now() / W);
  void replicator.push([entry(w, 3)]);
  await run(100);
  assert.ok(seen.some((es) => es.some((e) => e.windowId === w)), 'sent while current');
  await run(2 * W + 100);
  seen.length = 0;
  void replicator.push([entry(w + 2, 1)]);
  await run(200);
  assert.ok(seen.length > 0, 'new updates still go out');
  assert.ok(seen.every((es) => es.every((e) => e.windowId !== w)), `no entry of window ${w} any more: ${JSON.stringify(seen.slice(-1))}`);
  replicator.stop();
});

rep('a voter in its grace answers "later": the holder neither steps down nor counts it, and sends it all once it takes books', async () => {
  const clock = new VirtualClock(1_700_000_000_000);
  const net = new LocalNetwork(clock, { delayMs: () => 1 });
  const holder = net.connect('a');
  // Voter b restarted (since 2) and is in its grace until `graceUntil`; it then takes everything.
  const graceUntil = clock.now() + 300;
  const held = new BookCopy();
  const fulls: boolean[] = [];
  net.connect('b').subscribe('sluice.t.singleton.books.b', (m) => {
    const d = m.data as unknown as { entries: BookEntry[]; full?: boolean };
    if (clock.now() < graceUntil) { m.respond?.({ ok: false, later: true, term: 0, since: 2 }); return; }
    held.merge(d.entries);
    fulls.push(d.full === true);
    m.respond?.({ ok: true, term: 1, since: 2 });
  });
  let stale = 0;
  const w = Math.floor(clock.now() / W);
  const replicator = new BookReplicator(holder, clock, {
    voters: () => ['b'], quorum: () => 2, selfVotes: true, ownCopy: new BookCopy(), stale: () => { stale++; },
  }, { cluster: 't', nodeId: 'a', term: 1, timeoutMs: TIMEOUT_MS, all: () => [entry(w, 5)], completeFrom: Number.NEGATIVE_INFINITY });
  let answer: boolean | undefined;
  void replicator.push([entry(w, 6)]).then((ok) => { answer = ok; });
  for (let t = 0; t < 250; t += 5) { clock.advance(5); await new Promise((r) => setImmediate(r)); }
  assert.is(stale, 0, 'a voter in its grace is not a later term');
  assert.is(answer, undefined, 'not committed: the only other voter holds nothing yet');
  assert.ok(replicator.stats.deferred > 0);
  for (let t = 0; t < 300; t += 5) { clock.advance(5); await new Promise((r) => setImmediate(r)); }
  assert.is(answer, true, 'committed once the voter took the books');
  assert.is(held.all()[0]?.received, 6);
  assert.ok(fulls.includes(true), 'it got the whole books (it counts as synced)');
  assert.is(stale, 0);
  replicator.stop();
});

rep.run();
