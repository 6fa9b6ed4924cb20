// N limiter stacks (Membership + LimitGossip + ConfiguredLimits) on one LocalNetwork and one
// VirtualClock: gossip goes through the bus as JSON, with random delay and 20% of deliveries lost
// (seeded, so every run is the same). Per window: admitted ≤ limit + over-admission bound (computed
// from docs/limits.md), at least 95% of the limit admitted when demand exceeds it, and every call
// answered exactly once.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { windowIdAt } from '../../../src/limit/windows.ts';
import { seeded } from '../../../src/random.ts';
import { SimCluster, tryCall } from './sim-support.ts';
import { AnswerLedger } from '../../support/answers.ts';
import { approximateOverAdmission } from '../../support/documented-bounds.ts';

const sim = suite('approximate limiter cluster over the bus', { timeoutMs: 90_000 }); // 50 nodes × 2 000 ms of actors

interface Spec { nodes: number; seed: number; dropRate: number; windows: number; degraded?: 'safe-share' | 'fail-open' }

const LIMIT = 1_000;
const WINDOW_MS = 1_000;
const SYNC_MS = 20;
const MAX_DELAY_MS = 10;
const DEMAND = 2;
/** Heartbeats every 200 ms: seven rounds, so at 20% loss every node has heard every other. */
const WARMUP_MS = 1_400;

const drain = () => new Promise<void>((r) => setImmediate(r));

async function run(spec: Spec) {
  const random = seeded(spec.seed);
  const t0 = WINDOW_MS * 1_700_000;
  const c = new SimCluster({
    startAt: t0 - WARMUP_MS, random,
    faults: { dropRate: spec.dropRate, random, delayMs: () => 1 + Math.floor(random() * MAX_DELAY_MS) },
    cluster: { syncMs: SYNC_MS },
    fullStateEveryMs: 200,
  });
  const target = { name: 'llm', limits: [{ name: 'rpm', limit: LIMIT, windowMs: WINDOW_MS, degraded: spec.degraded ?? 'safe-share' }] };
  const stacks = Array.from({ length: spec.nodes }, (_, i) => c.add(`n${i}`, target));
  stacks.forEach((s) => s.start());
  // Warm up: heartbeats and a first full-state round before the measured windows start.
  c.clock.advanceTo(t0);
  // At 20% loss a node may still miss one peer's heartbeats; it then just does not track that peer.
  if (spec.dropRate < 1) for (const s of stacks) assert.ok(s.membership.liveIds().length >= spec.nodes - 1, `${s.id} sees the cluster`);

  // Uneven load: Zipf-like weights, every fourth node idle (it still gossips).
  const weights = stacks.map((_, i) => (i % 4 === 3 ? 0 : 1 / (i + 1)));
  const total = weights.reduce((a, w) => a + w, 0);
  const rates = weights.map((w) => (DEMAND * LIMIT * w) / total / WINDOW_MS);
  const admitted = new Map<number, number>();
  const demanded = new Map<number, number>();
  const add = (m: Map<number, number>, k: number, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  // Calls are not awaited one by one (a call that never answered would only hang the loop): each is
  // tracked, the clock moves on, and the ledger says at the end whether each got exactly one answer.
  const answers = new AnswerLedger();
  for (let t = t0; t < t0 + spec.windows * WINDOW_MS; t++) {
    c.clock.advanceTo(t);
    const w = windowIdAt(t, WINDOW_MS);
    for (let i = 0; i < stacks.length; i++) {
      const rate = rates[i]!;
      const arrivals = Math.floor(rate) + (random() < rate % 1 ? 1 : 0);
      for (let k = 0; k < arrivals; k++) {
        add(demanded, w, 1);
        void answers.track(tryCall(stacks[i]!.limits)).then((ok) => { if (ok) add(admitted, w, 1); });
      }
    }
    await drain();
  }
  const sent = stacks.reduce((a, s) => a + s.gossip.stats.sent, 0);
  c.clock.advance(5 * SYNC_MS); // a call waits at most 5 × syncMs (catching up), then is decided
  await drain();
  // docs/limits.md: rates × (syncMs + busDelayMs), and on a lossy bus one lost delta in a row allowed.
  const bound = approximateOverAdmission({
    ratesPerMs: rates, syncMs: SYNC_MS, busDelayMs: MAX_DELAY_MS, lostInARow: spec.dropRate > 0 ? 1 : 0,
  });
  await Promise.all(stacks.map((s) => s.stop()));
  return { admitted, demanded, bound, sent, answers, first: windowIdAt(t0, WINDOW_MS) };
}

function check(spec: Spec, out: Awaited<ReturnType<typeof run>>) {
  out.answers.assertEachAnsweredOnce(`${spec.nodes} nodes`);
  assert.ok(out.bound < 0.2 * LIMIT, `bound ${out.bound} says something`);
  for (let w = out.first; w < out.first + spec.windows; w++) {
    const a = out.admitted.get(w) ?? 0;
    assert.ok(a <= LIMIT + out.bound, `window ${w - out.first}: admitted ${a} > ${LIMIT} + ${out.bound}`);
    if ((out.demanded.get(w) ?? 0) > LIMIT) assert.ok(a >= 0.95 * LIMIT, `window ${w - out.first}: admitted only ${a}`);
  }
}

for (const nodes of [3, 10, 50]) {
  sim(`${nodes} nodes with uneven load, delay and 20% loss admit at most limit + bound per window, and at least 95% of it`, async () => {
    const spec: Spec = { nodes, seed: nodes * 7_919, dropRate: 0.2, windows: nodes >= 50 ? 2 : 3 };
    const out = await run(spec);
    // One message per node per sync interval, not one per request.
    const ticks = (spec.windows * WINDOW_MS + WARMUP_MS) / SYNC_MS;
    assert.ok(out.sent <= nodes * (ticks + 2), `sent ${out.sent} messages for ${nodes} nodes × ${ticks} ticks`);
    check(spec, out);
  });
}

sim('with every gossip message lost, fail-open nodes overshoot the bound, so the check has teeth', async () => {
  const spec: Spec = { nodes: 10, seed: 99, dropRate: 1, windows: 1, degraded: 'fail-open' };
  const out = await run(spec);
  out.answers.assertEachAnsweredOnce('fail-open');
  assert.ok((out.admitted.get(out.first) ?? 0) > LIMIT + out.bound);
});

sim.run();
