// Strict books larger than NATS's max_payload (1 MiB, nats.conf) on a real 3-server NATS cluster
// (issue #12): three in-process nodes (membership, singleton, holder server, prefetch client) on their
// own NatsBus connections and the real clock. Voters hold copies of over 1 MiB each; before copies
// and updates went in parts, every ballot carrying one was refused by NATS and dropped by the bus,
// and no holder ever started. Checked here: a holder starts from every voter's copy, a grant is
// replicated (the holder's whole books, over 2 MiB, reach the voters first), and after the holder
// is killed the successor continues from the copies without a fence.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { NatsBus } from '../../src/bus/nats-bus.ts';
import { realClock } from '../../src/clock.ts';
import { limitSchema } from '../../src/config/schema.ts';
import { Membership } from '../../src/actors/membership.ts';
import { Singleton, singletonTimings } from '../../src/actors/singleton.ts';
import { StrictServer } from '../../src/actors/limits/strict-server.ts';
import { StrictEnforcer } from '../../src/actors/limits/strict-enforcer.ts';
import type { BookEntry } from '../../src/limit/strict-books.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';
import { settlesWithin } from '../support/wait.ts';

const large = suite('strict books over 1 MiB on a NATS cluster integration', { timeoutMs: 60_000 });

/**
 * Three nodes share this process and its CPU, and every round moves megabytes of JSON: a heartbeat of
 * 100 ms (a lease of 300) would measure the machine, not the protocol. The default is 1 s.
 */
const HEARTBEAT_MS = 500;
const WINDOW_MS = 60_000;
/** NATS's default max_payload, which nats.conf keeps. */
const MAX_PAYLOAD = 1024 * 1024;
const ENTRIES_PER_VOTER = 12_000;

interface Node { id: string; bus: NatsBus; membership: Membership; singleton: Singleton; server: StrictServer; enforcer: StrictEnforcer }

let nats: NatsCluster;
const nodes: Node[] = [];

async function startNode(id: string, url: string): Promise<Node> {
  const bus = await NatsBus.connect({ servers: [url], name: id, reconnectTimeWaitMs: 50 });
  const cluster = { heartbeatMs: HEARTBEAT_MS, deadAfterMs: 5 * HEARTBEAT_MS };
  const membership = new Membership(bus, realClock, { nodeId: id, cluster: 'lb', ...cluster });
  const singleton = new Singleton(bus, realClock, membership, { nodeId: id, cluster: 'lb', ...singletonTimings(cluster), voters: ['a', 'b', 'c'] });
  const server = new StrictServer(bus, realClock, singleton, { cluster: 'lb' });
  const limit = limitSchema.parse({ name: 'rps', limit: 1_000, windowMs: WINDOW_MS, mode: 'strict' });
  const enforcer = new StrictEnforcer(limit, 't', { nodeId: id, clusterName: 'lb', clock: realClock, bus, singleton });
  return { id, bus, membership, singleton, server, enforcer };
}

/** Resolves once `ok()` holds, checked at every change `node`'s singleton reports; false after `ms`. */
function when(node: Node, ok: () => boolean, ms: number): Promise<boolean> {
  let off: (() => void) | undefined;
  const reached = new Promise<void>((resolve) => {
    if (ok()) { resolve(); return; }
    off = node.singleton.onChange(() => { if (ok()) resolve(); });
  });
  return settlesWithin(reached, ms).finally(() => off?.());
}

/** Polls `ok()` every 5 ms (a voter's books change without an event); false after `ms`. */
async function until(ok: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (ok()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return ok();
}

large.before(async () => {
  nats = await startNatsCluster(3);
  for (const [i, id] of ['a', 'b', 'c'].entries()) nodes.push(await startNode(id, nats.urls[i]!));
  // The voters' copies, before anyone stands (the grace): per-client entries of the current window.
  const windowId = Math.floor(Date.now() / WINDOW_MS);
  for (const n of nodes.slice(1)) {
    const entries: BookEntry[] = Array.from({ length: ENTRIES_PER_VOTER }, (_, i) => ({
      key: `t/rps/client-${n.id}-${String(i).padStart(6, '0')}`, windowId, limit: 1_000, windowMs: WINDOW_MS, node: n.id, received: 2, returned: 0,
    }));
    n.singleton.books.merge(entries);
  }
  for (const n of nodes) { n.membership.start(); n.singleton.start(); n.server.start(); }
});

large.after(async () => {
  for (const n of nodes) { n.server.stop(); n.singleton.stop(); n.membership.stop(); await n.bus.close(); }
  await nats?.close();
});

large('voters with copies over 1 MiB elect a holder that continues from them; after a kill, the successor does too', async () => {
  for (const n of nodes.slice(1)) {
    const chars = JSON.stringify(n.singleton.books.all()).length;
    assert.ok(chars > MAX_PAYLOAD, `${n.id}'s copy is ${chars} characters, more than NATS takes in one message`);
  }
  const [a, b, c] = nodes as [Node, Node, Node];
  assert.ok(await when(a, () => a.singleton.session() !== undefined, 10_000), 'a (the lowest id) holds');
  const seed = a.singleton.takeover()!.seed;
  // a's quorum is itself and the first voter whose ballot came: that voter's whole copy, never a part of one.
  const fromVoters = ['b', 'c'].map((id) => seed.filter((e) => e.node === id).length);
  assert.ok(fromVoters.includes(ENTRIES_PER_VOTER), `a whole voter's copy is in the takeover (${fromVoters})`);
  assert.ok(fromVoters.every((n) => n === 0 || n === ENTRIES_PER_VOTER), `only whole copies (${fromVoters})`);
  // A grant is answered only once a quorum holds it: the whole books go to b and c first, in parts.
  assert.ok(await when(b, () => b.singleton.holder()?.id === 'a', 5_000), 'b knows the holder');
  const granted = b.enforcer.admit('client-x', 1, Date.now());
  assert.ok(await settlesWithin(Promise.resolve(granted), 10_000), 'b got an answer');
  assert.ok((await granted).allowed, 'b was admitted');
  // The whole books go first, then the grant, one request after another: a voter holding the grant
  // holds the holder's whole books (and was told so: its copy is complete for this window).
  const holds = (n: Node) => {
    const entries = n.singleton.books.all();
    const keys = new Set(entries.map((e) => `${e.key} ${e.node}`));
    // b's client leases under its name for this life, `b~<start>`.
    return entries.some((e) => e.key === 't/rps/client-x' && e.node.startsWith('b~')) && seed.every((e) => keys.has(`${e.key} ${e.node}`));
  };
  assert.ok(holds(b) || holds(c), 'the quorum that held the grant holds the whole books');
  // Both voters, before the kill: then either may complete the successor's quorum.
  assert.ok(await until(() => holds(b) && holds(c), 5_000), 'both voters hold the holder\'s whole books');
  // Kill the holder: no goodbye, no resignation.
  await a.bus.close();
  a.server.stop(); a.singleton.stop(); a.membership.stop();
  const killedAt = Date.now();
  assert.ok(await when(b, () => b.singleton.session() !== undefined, 10_000), 'b (next lowest) holds');
  const takeover = b.singleton.takeover()!;
  console.log(`successor held ${Date.now() - killedAt} ms after the kill (${((Date.now() - killedAt) / HEARTBEAT_MS).toFixed(1)} heartbeats); seed ${takeover.seed.length} entries`);
  assert.ok(takeover.seed.length >= 2 * ENTRIES_PER_VOTER, `the successor's seed holds both copies (${takeover.seed.length})`);
  const windowStart = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
  assert.ok(takeover.completeFromAt <= windowStart, 'the window is complete in the copies: no fence');
  assert.ok(await when(c, () => c.singleton.holder()?.id === 'b', 5_000), 'c knows the successor');
  const again = c.enforcer.admit('client-y', 1, Date.now());
  assert.ok(await settlesWithin(Promise.resolve(again), 10_000), 'c got an answer from the successor');
  assert.ok((await again).allowed, 'c was admitted by the successor');
});

large.run();
