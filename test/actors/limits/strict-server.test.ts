import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import type { Json } from '../../../src/bus/bus.ts';
import { exhaustedSubject, leaseSubject, parseSyncReply, syncSubject, type SyncItem, type SyncReply } from '../../../src/actors/limits/strict-protocol.ts';
import { rig, T0, WINDOW_MS } from './strict-support.ts';

const server = suite('strict server (the limiter on the holder)');

const W = T0 / WINDOW_MS;
const item = (o: Partial<SyncItem> = {}): SyncItem => ({ key: 't/rps/k', limit: 100, windowMs: WINDOW_MS, windowId: W, received: 0, returned: 0, want: 0, ...o });

/** Sends one sync request from `node` to holder `to` and runs the clock until it is answered. */
async function sync(r: ReturnType<typeof rig>, node: string, items: SyncItem[], to = 'h'): Promise<SyncReply> {
  let reply: Json | undefined;
  void r.buses.get(node)!.request(syncSubject('c', to), { node, items: items.map((i) => ({ ...i })) }, 100).then((x) => { reply = x; });
  for (let i = 0; i < 10 && reply === undefined; i++) await r.run(1);
  const parsed = parseSyncReply(reply!);
  if (!parsed) throw new Error(`bad reply ${JSON.stringify(reply)}`);
  return parsed;
}

const received = (reply: SyncReply): number => (reply.ok ? reply.items[0]!.received : -1);

server('answers not-holder while its node does not hold the lease', async () => {
  const r = rig(['h', 'a']);
  assert.equal(await sync(r, 'a', [item({ want: 5 })]), { ok: false, reason: 'not-holder' });
  r.elect('a', 1);
  assert.equal(await sync(r, 'a', [item({ want: 5 })]), { ok: false, reason: 'not-holder' });
});

server('leases exactly the limit per window, first come first served, then nothing', async () => {
  const r = rig(['h', 'a', 'b']);
  r.elect('h', 1);
  const a = await sync(r, 'a', [item({ want: 70 })]);
  assert.equal(a, { ok: true, holder: 'h', term: 1, items: [{ key: 't/rps/k', windowId: W, received: 70, available: 30 }] });
  assert.is(received(await sync(r, 'b', [item({ want: 50 })])), 30, 'short: only 30 left');
  assert.is(received(await sync(r, 'b', [item({ received: 30, want: 50 })])), 30);
  assert.is(r.servers.get('h')!.ledger!.grantedTotal('t/rps/k', W), 100);
});

server('a retried ask is not granted twice: what the node did not receive is delivered first', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  assert.is(received(await sync(r, 'a', [item({ want: 20 })])), 20);
  // The reply was lost: the node asks again with its old total.
  assert.is(received(await sync(r, 'a', [item({ want: 20 })])), 20, 'the same 20, not 40');
  assert.is(received(await sync(r, 'a', [item({ want: 30 })])), 30, '20 undelivered + 10 new');
  assert.is(r.servers.get('h')!.ledger!.grantedTotal('t/rps/k', W), 30);
});

server('returns are running totals: a repeated return credits once, and the units go to a waiting node', async () => {
  const r = rig(['h', 'a', 'b']);
  r.elect('h', 1);
  await sync(r, 'a', [item({ want: 100 })]);
  assert.is(received(await sync(r, 'b', [item({ want: 10 })])), 0, 'b is short and waits');
  const pushed: Json[] = [];
  r.buses.get('b')!.subscribe(leaseSubject('c', 'b'), (m) => pushed.push(m.data));
  await sync(r, 'a', [item({ received: 100, returned: 6 })]);
  await sync(r, 'a', [item({ received: 100, returned: 6 })]); // duplicate
  await r.run(2);
  assert.equal(pushed.map((p) => received(parseSyncReply(p)!)), [6], 'the 6 returned are pushed to b once');
  assert.is(r.servers.get('h')!.ledger!.grantedTotal('t/rps/k', W), 100);
  await sync(r, 'a', [item({ received: 100, returned: 10 })]);
  await r.run(2);
  assert.equal(pushed.map((p) => received(parseSyncReply(p)!)), [6, 10], 'b wanted 10 in all');
  assert.is(r.servers.get('h')!.ledger!.available('t/rps/k', W), 0);
});

server('announces once when a window runs out', async () => {
  const r = rig(['h', 'a', 'b']);
  r.elect('h', 1);
  const seen: Json[] = [];
  r.buses.get('b')!.subscribe(exhaustedSubject('c'), (m) => seen.push(m.data));
  await sync(r, 'a', [item({ want: 60 })]);
  await sync(r, 'a', [item({ received: 60, want: 60 })]);
  await sync(r, 'a', [item({ received: 100, want: 60 })]);
  await r.run(2);
  assert.equal(seen, [{ key: 't/rps/k', windowId: W }]);
});

server('a successor is fenced: it leases only what reported nodes give back in the window it took over', async () => {
  const r = rig(['h', 'h2', 'a', 'b', 'c']);
  r.elect('h', 1);
  await sync(r, 'a', [item({ want: 60 })]);
  await sync(r, 'b', [item({ want: 60 })]); // b gets 40: the window is spent
  r.elect('h2', 2, true); // h crashes; h2 takes over mid-window
  assert.is(received(await sync(r, 'c', [item({ want: 10 })], 'h2')), 0, 'a node that never leased gets nothing either');
  assert.is(received(await sync(r, 'b', [item({ received: 40, want: 10 }), item({ windowId: W + 1, want: 0 })], 'h2')), 40, 'nothing new in the fenced window');
  // a reports (its first word to h2), then gives back 15: those, and only those, can be leased again.
  // They go at once to the nodes waiting, the latest asker first: b (10 more), then c (5).
  await sync(r, 'a', [item({ received: 60 })], 'h2');
  await sync(r, 'a', [item({ received: 60, returned: 15 })], 'h2');
  assert.is(received(await sync(r, 'b', [item({ received: 40, want: 50 })], 'h2')), 50);
  assert.is(received(await sync(r, 'c', [item({ want: 10 })], 'h2')), 5);
  assert.is(r.servers.get('h2')!.ledger!.available('t/rps/k', W), 0);
  // The next window is fresh.
  await r.run(WINDOW_MS);
  assert.is(received(await sync(r, 'b', [item({ windowId: W + 1, want: 100 })], 'h2')), 100);
});

server('a different window length for the same key gets nothing; a smaller limit wins', async () => {
  const r = rig(['h', 'a', 'b']);
  r.elect('h', 1);
  await sync(r, 'a', [item({ want: 10 })]);
  assert.is(received(await sync(r, 'b', [item({ windowMs: 2_000, windowId: T0 / 2_000, want: 10 })])), 0);
  assert.is(received(await sync(r, 'b', [item({ limit: 20, want: 50 })])), 10, 'limit 20 now: 10 left');
  assert.is(r.servers.get('h')!.stats.specMismatches, 2);
});

server('malformed requests are dropped and counted', async () => {
  const r = rig(['h', 'a']);
  r.elect('h', 1);
  const bus = r.buses.get('a')!;
  for (const bad of [{ node: 'a' }, { node: 'a', items: [{ key: 'k' }] }, { node: 'a', items: [item({ returned: 5, received: 1 })] }, 'x']) {
    void bus.request(syncSubject('c', 'h'), bad as Json, 20).catch(() => undefined);
  }
  await r.run(30);
  assert.is(r.servers.get('h')!.stats.malformed, 4);
});

server.run();
