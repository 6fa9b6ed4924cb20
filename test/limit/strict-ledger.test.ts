import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ErrorCode } from '../../src/errors.ts';
import { StrictLedger, type LeaseReport, type LimitSpec, type StrictLedgerOptions } from '../../src/limit/strict-ledger.ts';

const ledger = suite('strict ledger');

const KEY = 'llm:tpm';
const spec: LimitSpec = { limit: 20, windowMs: 1_000 };
const specOf = (key: string): LimitSpec | undefined => (key === KEY ? spec : undefined);
const make = (extra: Partial<StrictLedgerOptions> = {}) => new StrictLedger({ specOf, maxClockSkewMs: 0, ...extra });

ledger('grants up to the limit, then a short grant, then nothing', () => {
  const l = make();
  // (node, asked) → granted, all in window 5 at t = 5 100.
  const table: Array<[string, number, number]> = [['a', 8, 8], ['b', 8, 8], ['a', 8, 4], ['b', 1, 0]];
  for (const [node, asked, granted] of table) assert.is(l.grant(node, KEY, 5, asked, 5_100), granted, `${node} asks ${asked}`);
  assert.is(l.grantedTotal(KEY, 5), 20);
  assert.is(l.available(KEY, 5), 0);
});

ledger('released permits can be leased again, and a repeated release credits nothing twice', () => {
  const l = make();
  l.grant('a', KEY, 0, 20, 10);
  assert.is(l.release('a', KEY, 0, 5), 5);
  assert.is(l.release('a', KEY, 0, 5), 0, 'same running total again');
  assert.is(l.release('a', KEY, 0, 3), 0, 'an older total arriving late');
  assert.is(l.grantedTotal(KEY, 0), 15);
  assert.is(l.grant('b', KEY, 0, 10, 20), 5);
  assert.is(l.release('a', KEY, 0, 7), 2);
});

ledger('a node cannot give back more than was leased to it', () => {
  const l = make();
  l.grant('a', KEY, 0, 4, 0);
  l.grant('b', KEY, 0, 10, 0);
  assert.is(l.release('a', KEY, 0, 9), 4);
  assert.is(l.release('c', KEY, 0, 9), 0, 'a node with no lease');
  assert.is(l.grantedTotal(KEY, 0), 10);
});

ledger('each window has its own budget and ended windows are dropped', () => {
  const l = make();
  assert.is(l.grant('a', KEY, 0, 50, 999), 20);
  assert.is(l.grant('a', KEY, 1, 50, 1_000), 20);
  assert.is(l.grant('a', KEY, 0, 1, 1_000), 0, 'window 0 has ended');
  assert.is(l.grant('a', KEY, 2, 1, 1_000), 0, 'window 2 has not begun');
  l.prune(2_000);
  assert.equal(l.leasesOutstanding(), []);
  assert.is(l.release('a', KEY, 1, 5), 0, 'a release for a dropped window');
  // Time never runs back inside the ledger: a stale clock cannot re-open the dropped window.
  assert.is(l.grant('a', KEY, 1, 1, 1_500), 0);
});

ledger('a key with no strict limit is granted nothing', () => {
  const l = make();
  assert.is(l.grant('a', 'other', 0, 5, 0), 0);
  assert.is(l.available('other', 0), 0);
});

ledger('a window within the clock skew of now is accepted', () => {
  const l = make({ maxClockSkewMs: 100 });
  assert.is(l.grant('a', KEY, 1, 1, 950), 1, 'a node whose clock is ahead');
  assert.is(l.grant('a', KEY, 0, 1, 1_050), 1, 'a node whose clock is behind');
  assert.is(l.grant('a', KEY, 0, 1, 1_101), 0);
});

ledger('a new holder treats the takeover window as fully granted', () => {
  const l = make({ takeoverAt: 5_300 });
  assert.ok(l.fenced(KEY, 5));
  assert.is(l.available(KEY, 5), 0);
  assert.is(l.grantedTotal(KEY, 5), 20);
  assert.is(l.grant('a', KEY, 5, 5, 5_300), 0);
  assert.ok(!l.fenced(KEY, 6));
  assert.is(l.grant('a', KEY, 6, 50, 6_000), 20, 'the next window is fresh');
});

ledger('in the fenced window only permits given back after a report are leased again', () => {
  const l = make({ takeoverAt: 5_300 });
  const reports: LeaseReport[] = [
    { node: 'a', key: KEY, windowId: 5, receivedTotal: 12, returnedTotal: 2 },
    { node: 'b', key: KEY, windowId: 5, receivedTotal: 6, returnedTotal: 0 },
  ];
  l.restore(reports);
  l.restore(reports); // reports may arrive twice
  assert.equal(l.leasesOutstanding().map((v) => [v.node, v.heldUnits]), [['a', 10], ['b', 6]]);
  assert.is(l.release('a', KEY, 5, 2), 0, 'given back before the report: maybe re-leased by the old holder');
  assert.is(l.release('a', KEY, 5, 6), 4);
  assert.is(l.grant('c', KEY, 5, 10, 5_400), 4);
  assert.is(l.grant('c', KEY, 5, 1, 5_400), 0);
  assert.is(l.grantedTotal(KEY, 5), 20);
});

ledger('a node that has not reported gets no credit for giving back in a fenced window', () => {
  const l = make({ takeoverAt: 5_300 });
  l.restore([{ node: 'a', key: KEY, windowId: 5, receivedTotal: 10, returnedTotal: 0 }]);
  l.release('a', KEY, 5, 4);
  assert.is(l.grant('c', KEY, 5, 4, 5_400), 4);
  // c's running totals may include units it gave the old holder: its releases credit nothing until it reports.
  assert.is(l.release('c', KEY, 5, 7), 0);
  l.restore([{ node: 'c', key: KEY, windowId: 5, receivedTotal: 9, returnedTotal: 7 }]);
  assert.is(l.release('c', KEY, 5, 8), 1);
});

ledger('a takeover close to a window edge also fences the next window', () => {
  const l = make({ maxClockSkewMs: 100, takeoverAt: 5_850 });
  assert.ok(l.fenced(KEY, 5));
  assert.ok(l.fenced(KEY, 6), 'the old holder, 200 ms ahead, may have leased from window 6');
  assert.ok(!l.fenced(KEY, 7));
});

ledger('a report for a window the fence missed fences it if nothing was leased there yet', () => {
  const l = make({ takeoverAt: 5_300 });
  l.restore([{ node: 'a', key: KEY, windowId: 6, receivedTotal: 3, returnedTotal: 0 }]);
  assert.ok(l.fenced(KEY, 6));
  l.restore([{ node: 'b', key: KEY, windowId: 7, receivedTotal: 0, returnedTotal: 0 }]);
  assert.ok(!l.fenced(KEY, 7), 'a node holding nothing proves nothing');
  assert.is(l.grant('a', KEY, 7, 15, 7_000), 15);
  l.restore([{ node: 'b', key: KEY, windowId: 7, receivedTotal: 4, returnedTotal: 0 }]);
  assert.is(l.grantedTotal(KEY, 7), 19, 'already leasing: the reported excess counts as granted');
});

ledger('bad options and arguments are rejected with InvalidArgumentError', () => {
  const attempts: Array<() => unknown> = [
    () => new StrictLedger({ specOf, maxClockSkewMs: -1 }),
    () => new StrictLedger({ specOf, takeoverAt: Number.NaN }),
    () => new StrictLedger({ specOf: undefined as unknown as StrictLedgerOptions['specOf'] }),
    () => make().grant('a', KEY, 0, -1, 0),
    () => make().grant('a', KEY, 0, 1.5, 0),
    () => make().grant('', KEY, 0, 1, 0),
    () => make().grant('a', KEY, 0.5, 1, 0),
    () => make().release('a', KEY, 0, -2),
    () => new StrictLedger({ specOf: () => ({ limit: -1, windowMs: 1_000 }) }).grant('a', KEY, 0, 1, 0),
    () => new StrictLedger({ specOf: () => ({ limit: 1, windowMs: 0 }) }).grant('a', KEY, 0, 1, 0),
  ];
  for (const attempt of attempts) {
    try { attempt(); assert.unreachable(attempt.toString()); }
    catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument, attempt.toString()); }
  }
});

// ---- Model: nodes, a lossy reordering network, holders that crash and lose everything ----

const WINDOW_MS = 100;
const LIMIT = 20;
const SKEW_MS = 30;
const NODES = ['n0', 'n1', 'n2'] as const;
const modelSpec = (): LimitSpec => ({ limit: LIMIT, windowMs: WINDOW_MS });

type Op =
  | { type: 'tick'; ms: number }
  | { type: 'ask'; node: number; units: number }
  | { type: 'spend'; node: number; units: number }
  | { type: 'giveBack'; node: number; units: number; previous: boolean }
  | { type: 'deliver'; pick: number; fate: 'once' | 'drop' | 'twice' }
  | { type: 'holderCrash'; clockOffsetMs: number }
  | { type: 'nodeCrash'; node: number }
  | { type: 'prune' };

type Message =
  | { to: 'holder'; type: 'ask'; node: string; windowId: number; units: number }
  | { to: 'holder'; type: 'release'; node: string; windowId: number; returnedTotal: number }
  | { to: 'holder'; type: 'report'; reports: LeaseReport[] }
  | { to: 'node'; type: 'granted'; node: string; windowId: number; units: number };

interface NodeModel { alive: boolean; clockOffsetMs: number; received: Map<number, number>; returned: Map<number, number>; spent: Map<number, number> }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 25 }) }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('ask' as const), node: fc.nat(2), units: fc.integer({ min: 1, max: 20 }) }), weight: 4 },
  { arbitrary: fc.record({ type: fc.constant('spend' as const), node: fc.nat(2), units: fc.integer({ min: 1, max: 8 }) }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('giveBack' as const), node: fc.nat(2), units: fc.integer({ min: 1, max: 10 }), previous: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('deliver' as const), pick: fc.nat(), fate: fc.constantFrom('once' as const, 'once' as const, 'drop' as const, 'twice' as const) }), weight: 8 },
  { arbitrary: fc.record({ type: fc.constant('holderCrash' as const), clockOffsetMs: fc.integer({ min: -SKEW_MS / 2, max: SKEW_MS / 2 }) }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('nodeCrash' as const), node: fc.nat(2) }), weight: 1 },
  { arbitrary: fc.constant({ type: 'prune' as const }), weight: 1 },
);

const get = (m: Map<number, number>, w: number): number => m.get(w) ?? 0;
const add = (m: Map<number, number>, w: number, n: number): void => { m.set(w, get(m, w) + n); };

/**
 * Runs ops; returns the worst (held − given back) sum over all windows, which must stay ≤ LIMIT.
 * With the fence on it also checks, after every step, that the live holder counts at least that much.
 */
function simulate(ops: readonly Op[], nodeOffsetsMs: readonly number[], fence: boolean): number {
  let now = 10_000;
  let holderOffsetMs = 0;
  let holder = new StrictLedger({ specOf: modelSpec, maxClockSkewMs: SKEW_MS });
  const nodes = new Map<string, NodeModel>(NODES.map((id, i) => [id, {
    alive: true, clockOffsetMs: nodeOffsetsMs[i]!, received: new Map(), returned: new Map(), spent: new Map(),
  }]));
  const net: Message[] = [];
  let worst = 0;
  const nodeAt = (i: number) => nodes.get(NODES[i]!)!;
  const windowOf = (n: NodeModel) => Math.floor((now + n.clockOffsetMs) / WINDOW_MS);

  const handle = (m: Message): void => {
    const holderNow = now + holderOffsetMs;
    if (m.to === 'node') {
      const n = nodes.get(m.node)!;
      if (n.alive) add(n.received, m.windowId, m.units);
    } else if (m.type === 'ask') {
      const units = holder.grant(m.node, KEY, m.windowId, m.units, holderNow);
      if (units > 0) net.push({ to: 'node', type: 'granted', node: m.node, windowId: m.windowId, units });
    } else if (m.type === 'release') {
      holder.release(m.node, KEY, m.windowId, m.returnedTotal);
    } else {
      holder.restore(m.reports);
    }
  };

  for (const op of ops) {
    switch (op.type) {
      case 'tick': now += op.ms; break;
      case 'ask': {
        const n = nodeAt(op.node);
        if (n.alive) net.push({ to: 'holder', type: 'ask', node: NODES[op.node]!, windowId: windowOf(n), units: op.units });
        break;
      }
      case 'spend': {
        const n = nodeAt(op.node);
        const w = windowOf(n);
        const free = get(n.received, w) - get(n.returned, w) - get(n.spent, w);
        add(n.spent, w, Math.min(free, op.units));
        break;
      }
      case 'giveBack': {
        const n = nodeAt(op.node);
        if (!n.alive) break;
        const w = windowOf(n) - (op.previous ? 1 : 0);
        const units = Math.min(op.units, get(n.received, w) - get(n.returned, w) - get(n.spent, w));
        if (units <= 0) break;
        add(n.returned, w, units); // given up now, whether or not the release arrives
        net.push({ to: 'holder', type: 'release', node: NODES[op.node]!, windowId: w, returnedTotal: get(n.returned, w) });
        break;
      }
      case 'deliver': {
        if (net.length === 0) break;
        const [m] = net.splice(op.pick % net.length, 1);
        // Replies are matched to their request id, so a node applies a grant at most once.
        if (op.fate === 'drop') break;
        handle(m!);
        if (op.fate === 'twice' && m!.to === 'holder') handle(m!);
        break;
      }
      case 'holderCrash': {
        // The old holder's state is gone; messages already in flight still arrive, at the new holder.
        holderOffsetMs = op.clockOffsetMs;
        const takeoverAt = now + holderOffsetMs;
        holder = new StrictLedger({ specOf: modelSpec, maxClockSkewMs: SKEW_MS, ...(fence ? { takeoverAt } : {}) });
        for (const [id, n] of nodes) {
          if (!n.alive) continue;
          const reports: LeaseReport[] = [...n.received.keys()].map((windowId) => ({
            node: id, key: KEY, windowId, receivedTotal: get(n.received, windowId), returnedTotal: get(n.returned, windowId),
          }));
          net.push({ to: 'holder', type: 'report', reports });
        }
        break;
      }
      case 'nodeCrash': nodeAt(op.node).alive = false; break; // what it held may all have been spent
      case 'prune': holder.prune(now + holderOffsetMs); break;
    }
    const windows = new Set([...nodes.values()].flatMap((n) => [...n.received.keys()]));
    const horizon = Math.floor((now + holderOffsetMs - SKEW_MS) / WINDOW_MS);
    for (const w of windows) {
      let exposed = 0;
      for (const n of nodes.values()) exposed += get(n.received, w) - get(n.returned, w);
      worst = Math.max(worst, exposed);
      // Tighter, so that a single unit credited twice shows: the holder counts at least what is exposed.
      if (fence && w >= horizon) assert.ok(exposed <= holder.grantedTotal(KEY, w), `window ${w}: exposed ${exposed} > counted ${holder.grantedTotal(KEY, w)}`);
    }
  }
  return worst;
}

const offsetsArb = fc.array(fc.integer({ min: -SKEW_MS / 2, max: SKEW_MS / 2 }), { minLength: 3, maxLength: 3 });

ledger('held minus given back never exceeds the limit in any window, across crashes, loss, duplication and reordering', () => {
  fc.assert(fc.property(fc.array(opArb, { minLength: 60, maxLength: 160, size: 'max' }), offsetsArb, (ops, offsets) => {
    const worst = simulate(ops, offsets, true);
    assert.ok(worst <= LIMIT, `exposed ${worst} > ${LIMIT}`);
  }), { numRuns: 400 });
});

ledger('without the fence a holder crash over-grants: the model can tell', () => {
  // Guards the property above against a model too weak to see a double grant.
  const ops: Op[] = [
    { type: 'ask', node: 0, units: 12 }, { type: 'deliver', pick: 0, fate: 'once' }, { type: 'deliver', pick: 0, fate: 'once' },
    { type: 'holderCrash', clockOffsetMs: 0 },
    // node 1's ask and grant overtake node 0's report, which would have fenced the window.
    { type: 'ask', node: 1, units: 12 }, { type: 'deliver', pick: 3, fate: 'once' }, { type: 'deliver', pick: 3, fate: 'once' },
  ];
  assert.ok(simulate(ops, [0, 0, 0], false) > LIMIT);
  assert.ok(simulate(ops, [0, 0, 0], true) <= LIMIT);
});

ledger.run();
