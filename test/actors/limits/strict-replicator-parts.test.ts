// The holder's replicator with books larger than one bus message (issue #12): requests are cut by
// JSON size under the network's largest message, the whole books reach a voter in several requests,
// and only the request that completes them says `full`. A network that refuses large messages (as
// NATS's max_payload does) stands in for NATS.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../../src/clock.ts';
import { LocalNetwork } from '../../../src/bus/local-bus.ts';
import { BookReplicator } from '../../../src/actors/limits/strict-replicator.ts';
import { BookCopy, type BookEntry } from '../../../src/limit/strict-books.ts';

const rep = suite('book replicator with books larger than one message');

const W = 1_000;
const MAX_PAYLOAD = 8 * 1024;

rep('the whole books of 3000 keys reach a voter in requests under the largest message; full only on the last; pushes commit', async () => {
  const clock = new VirtualClock(1_700_000_000_000);
  const net = new LocalNetwork(clock, { delayMs: () => 1 }, { maxPayloadChars: MAX_PAYLOAD });
  const w = Math.floor(clock.now() / W);
  const entry = (i: number, received = 1): BookEntry => ({ key: `t/rps/client-${i}`, windowId: w, limit: 10, windowMs: W, node: 'n', received, returned: 0 });
  const books = Array.from({ length: 3_000 }, (_, i) => entry(i));
  assert.ok(JSON.stringify(books).length > 20 * MAX_PAYLOAD, 'the books are many messages long');
  // Voter b takes every update; c is down (no responder): b and the holder make the quorum.
  const copy = new BookCopy();
  const requests: Array<{ entries: number; full: boolean; held: number }> = [];
  net.connect('b').subscribe('sluice.t.singleton.books.b', (m) => {
    const d = m.data as unknown as { entries: BookEntry[]; full?: boolean };
    copy.merge(d.entries);
    requests.push({ entries: d.entries.length, full: d.full === true, held: copy.size });
    m.respond?.({ ok: true, term: 1, since: 1 });
  });
  const replicator = new BookReplicator(net.connect('a'), clock, {
    voters: () => ['b', 'c'], quorum: () => 2, selfVotes: true, ownCopy: new BookCopy(), stale: () => {}, partChars: MAX_PAYLOAD / 2,
  }, { cluster: 't', nodeId: 'a', term: 1, timeoutMs: 50, all: () => books });
  let committed: boolean | undefined;
  void replicator.push([entry(0, 2)]).then((ok) => { committed = ok; });
  for (let t = 0; t < 2_000 && committed === undefined; t += 5) { clock.advance(5); await new Promise((r) => setImmediate(r)); }
  assert.is(committed, true, 'the push was held by a quorum');
  assert.is(net.oversized, 0, 'no request was larger than the network takes');
  assert.ok(requests.length > 20, `${requests.length} requests`);
  assert.is(copy.size, 3_000, 'b holds every entry');
  assert.ok(copy.all().some((e) => e.key === 't/rps/client-0' && e.received === 2), 'and the pushed total');
  const full = requests.filter((r) => r.full);
  assert.is(full.length, 1, 'one request said full');
  assert.is(full[0]!.held, 3_000, 'the one that completed the books');
  replicator.stop();
});

rep('a voter slow to take large requests still catches up: a timed-out request waits longer next time', async () => {
  // Small updates teach the replicator a round trip of a few ms; then a burst of 3000 keys (a window
  // starting with many clients) goes in requests that take the voter far longer than that to answer.
  // Before, every one of them timed out and was sent again, forever.
  const clock = new VirtualClock(1_700_000_000_000);
  const net = new LocalNetwork(clock, { delayMs: () => 1 });
  const w = Math.floor(clock.now() / W);
  const entry = (i: number, received = 1): BookEntry => ({ key: `t/rps/client-${i}`, windowId: w, limit: 10, windowMs: W, node: 'n', received, returned: 0 });
  const books = Array.from({ length: 3_000 }, (_, i) => entry(i));
  const copy = new BookCopy();
  net.connect('b').subscribe('sluice.t.singleton.books.b', (m) => {
    const d = m.data as unknown as { entries: BookEntry[] };
    // 1 ms per 20 entries: a request of a few hundred entries takes tens of ms.
    clock.setTimeout(() => { copy.merge(d.entries); m.respond?.({ ok: true, term: 1, since: 1 }); }, 1 + Math.floor(d.entries.length / 20));
  });
  const replicator = new BookReplicator(net.connect('a'), clock, {
    voters: () => ['b', 'c'], quorum: () => 2, selfVotes: true, ownCopy: new BookCopy(), stale: () => {}, partChars: 64 * 1024,
  }, { cluster: 't', nodeId: 'a', term: 1, timeoutMs: 250, all: () => books.slice(0, 10) });
  const run = async (ms: number) => { for (let t = 0; t < ms; t += 1) { clock.advance(1); await new Promise((r) => setImmediate(r)); } };
  for (let i = 0; i < 20; i++) { void replicator.push([entry(i, 2)]); await run(10); }
  books.forEach((e) => void replicator.push([e]));
  let committed: boolean | undefined;
  void replicator.push([entry(0, 3)]).then((ok) => { committed = ok; });
  for (let t = 0; t < 5_000 && committed === undefined; t += 10) await run(10);
  assert.is(committed, true, `held by a quorum (${JSON.stringify(replicator.stats)})`);
  assert.is(copy.size, 3_000);
  replicator.stop();
});

rep.run();
