// N approximate limiter cores on one virtual timeline, gossiping through an in-test queue with
// random delay and 20% loss (a seeded random, so every run is the same). No bus, no clock: a loop
// steps time 1 ms at a time. Invariants per window: admitted ≤ limit + over-admission bound (computed
// from the formula in docs/limits.md), at least 95% of the limit admitted when demand exceeds it, and
// every request decided exactly once.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { asNodeId, type NodeId } from '../../src/crdt/node-id.ts';
import { ApproximateLimiter, defaultStaleMs } from '../../src/limit/approximate-limiter.ts';
import { windowIdAt } from '../../src/limit/windows.ts';
import { seeded } from '../../src/random.ts';
import { AnswerLedger } from '../support/answers.ts';
import { approximateOverAdmission } from '../support/documented-bounds.ts';

const cluster = suite('approximate limiter cluster simulation');

interface Spec {
  nodes: number;
  limit: number;
  windowMs: number;
  windows: number;
  syncMs: number;
  /** Each delivered message takes 1..maxDelayMs. */
  maxDelayMs: number;
  dropRate: number;
  fullStateEveryMs: number;
  /** Total demand as a multiple of the limit. */
  demand: number;
  seed: number;
  degraded?: 'safe-share' | 'fail-open';
  /** Estimated units per request (default 1) and the share of it the reply really used (default all). */
  estimate?: (random: () => number) => number;
  usedShare?: (random: () => number) => number;
  replyAfterMs?: number;
}

interface Outcome {
  /** Net units admitted per window (estimates, then corrected by reconciles). */
  admitted: Map<number, number>;
  demanded: Map<number, number>;
  bound: number;
  degradedDecisions: number;
  messages: number;
  answers: AnswerLedger;
}

function simulate(spec: Spec): Outcome {
  const random = seeded(spec.seed);
  const ids: NodeId[] = Array.from({ length: spec.nodes }, (_, i) => asNodeId(`n${i}`));
  const t0 = spec.windowMs * 1_700_000;
  const end = t0 + spec.windows * spec.windowMs;
  const nodes = ids.map((nodeId) => new ApproximateLimiter({
    nodeId, name: 'rpm', limit: spec.limit, windowMs: spec.windowMs, staleMs: defaultStaleMs(spec.syncMs),
    degraded: spec.degraded ?? 'safe-share',
  }));
  for (const n of nodes) n.setMembers(ids, t0);

  // Uneven load: Zipf-like weights, and every fourth node idle (it still gossips).
  const weights = ids.map((_, i) => (i % 4 === 3 ? 0 : 1 / (i + 1)));
  const totalWeight = weights.reduce((s, w) => s + w, 0);
  const meanEstimate = spec.estimate ? 10.5 : 1;
  const requestRates = weights.map((w) => (spec.demand * spec.limit * w) / totalWeight / spec.windowMs / meanEstimate);
  const phase = ids.map(() => Math.floor(random() * spec.syncMs));

  const inbox = new Map<number, { to: number; from: NodeId; payload: unknown }[]>();
  const replies = new Map<number, { node: number; windowId: number; estimated: number; actual: number }[]>();
  const admitted = new Map<number, number>();
  const demanded = new Map<number, number>();
  const add = (m: Map<number, number>, k: number, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let degradedDecisions = 0;
  let messages = 0;
  const answers = new AnswerLedger();

  for (let t = t0; t < end; t++) {
    for (const m of inbox.get(t) ?? []) nodes[m.to]!.mergeRemote(m.from, m.payload, t);
    inbox.delete(t);
    for (const r of replies.get(t) ?? []) {
      add(admitted, r.windowId, nodes[r.node]!.reconcile('target', r.windowId, r.estimated, r.actual, t));
    }
    replies.delete(t);

    nodes.forEach((node, i) => {
      const rate = requestRates[i]!;
      const arrivals = Math.floor(rate) + (random() < rate % 1 ? 1 : 0);
      for (let k = 0; k < arrivals; k++) {
        const cost = spec.estimate ? spec.estimate(random) : 1;
        const answered = answers.open();
        const d = node.admit('target', cost, t);
        if (typeof d.allowed === 'boolean') answered();
        add(demanded, d.windowId, cost);
        if (d.degraded) degradedDecisions++;
        if (!d.allowed) continue;
        add(admitted, d.windowId, cost);
        if (spec.usedShare) {
          const at = t + (spec.replyAfterMs ?? 50);
          const actual = Math.floor(cost * spec.usedShare(random));
          replies.set(at, [...(replies.get(at) ?? []), { node: i, windowId: d.windowId, estimated: cost, actual }]);
        }
      }
    });

    nodes.forEach((node, i) => {
      const tick = t - t0 + phase[i]!;
      if (tick % spec.syncMs !== 0) return;
      // Through JSON, as the bus would carry it.
      const outgoing = [node.takeDelta(t), ...(tick % spec.fullStateEveryMs === 0 ? [node.fullState(t)] : [])]
        .map((p) => JSON.parse(JSON.stringify(p)) as unknown);
      for (const payload of outgoing) {
        for (let j = 0; j < spec.nodes; j++) {
          if (j === i || random() < spec.dropRate) continue;
          const at = t + 1 + Math.floor(random() * spec.maxDelayMs);
          let q = inbox.get(at);
          if (!q) inbox.set(at, (q = []));
          q.push({ to: j, from: ids[i]!, payload });
          messages++;
        }
      }
    });
  }
  // On a lossy bus a lost delta is healed by the next one: allow one loss in a row (at 20% loss,
  // sweeps of 100+ seeds peaked at 54 units over the limit against 60 without this allowance, 100 with it).
  const bound = approximateOverAdmission({
    ratesPerMs: requestRates.map((r) => r * meanEstimate),
    syncMs: spec.syncMs,
    busDelayMs: spec.maxDelayMs,
    lostInARow: spec.dropRate > 0 ? 1 : 0,
  });
  return { admitted, demanded, bound, degradedDecisions, messages, answers };
}

function checkWindows(spec: Spec, out: Outcome): void {
  out.answers.assertEachAnsweredOnce(`${spec.nodes} nodes, seed ${spec.seed}`);
  const first = windowIdAt(spec.windowMs * 1_700_000, spec.windowMs);
  // The bound must say something: well under the limit itself.
  assert.ok(out.bound < 0.2 * spec.limit, `bound ${out.bound}`);
  for (let w = first; w < first + spec.windows; w++) {
    const admitted = out.admitted.get(w) ?? 0;
    const demanded = out.demanded.get(w) ?? 0;
    assert.ok(admitted <= spec.limit + out.bound, `window ${w - first}: admitted ${admitted} > ${spec.limit} + ${out.bound}`);
    if (demanded > spec.limit) assert.ok(admitted >= 0.95 * spec.limit, `window ${w - first}: admitted only ${admitted}`);
  }
}

const base = {
  limit: 1_000, windowMs: 1_000, windows: 3, syncMs: 20, maxDelayMs: 10, dropRate: 0.2, fullStateEveryMs: 200, demand: 2,
};

for (const nodes of [3, 10, 50]) {
  cluster(`${nodes} nodes with uneven load admit at most limit + bound per window, and at least 95% of it`, () => {
    const spec: Spec = { ...base, nodes, seed: nodes * 7_919 };
    const out = simulate(spec);
    assert.ok(out.messages > 0);
    checkWindows(spec, out);
  });
}

cluster('on a lossless bus the tighter bound, with no loss allowance, holds', () => {
  const spec: Spec = { ...base, nodes: 10, seed: 5, dropRate: 0 };
  checkWindows(spec, simulate(spec));
});

cluster('token estimates refunded after the reply stay within the bound and still fill the window', () => {
  const spec: Spec = {
    ...base, nodes: 10, seed: 424_242,
    estimate: (r) => 1 + Math.floor(r() * 20),
    usedShare: (r) => 0.5 + r() / 2,
    replyAfterMs: 40,
  };
  checkWindows(spec, simulate(spec));
});

cluster('without gossip, local-only counting overshoots the bound, so the check has teeth', () => {
  // fail-open with every message lost is seed 004's limiter: each node checks only its own spend.
  const spec: Spec = { ...base, nodes: 10, seed: 99, dropRate: 1, degraded: 'fail-open' };
  const out = simulate(spec);
  out.answers.assertEachAnsweredOnce();
  const first = windowIdAt(spec.windowMs * 1_700_000, spec.windowMs);
  assert.ok((out.admitted.get(first) ?? 0) > spec.limit + out.bound);
});

cluster('with gossip cut off entirely, safe-share keeps every node to its share of the limit', () => {
  const spec: Spec = { ...base, nodes: 10, seed: 7, dropRate: 1 };
  const out = simulate(spec);
  out.answers.assertEachAnsweredOnce();
  const first = windowIdAt(spec.windowMs * 1_700_000, spec.windowMs);
  assert.ok(out.degradedDecisions > 0);
  // The first window includes the staleMs of grace before silence counts; later ones are all degraded.
  for (let w = first + 1; w < first + spec.windows; w++) assert.ok((out.admitted.get(w) ?? 0) <= spec.limit);
});

cluster.run();
