// Model-based test of a whole cluster: an xstate model of what can happen to three nodes (crash,
// crash of the singleton holder, graceful leave, join, pause and resume, the holder cut off by a
// partition and the partition healed, load arriving, windows rolling) is explored by @xstate/graph
// (one shortest path to every (state, event) pair), and every path is replayed on the real per-node
// actors (./rig.ts) on a LocalNetwork and a VirtualClock. After every step an oracle written apart
// from the code checks what sluice promises:
// - every request is answered at most once, and exactly once when the path has settled;
// - approximate admissions per window ≤ limit + the bound of docs/limits.md, computed here;
// - strict admissions ≤ limit in every window, counted where they land (a sink by the virtual time
//   each admitted call is made);
// - at most one node holds the singleton lease (its own view) at the end of every step;
// - once every node has stopped: no timer, subscription, held message or queued request is left.
// The model machine has no `after`/`invoke` (STACK.md): time moves only in the driver.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { assign, createActor, getNextSnapshot, setup } from 'xstate';
import { createTestModel } from '@xstate/graph';
import { seeded } from '../../src/random.ts';
import { ClusterRig, CLUSTER, LIMIT, MAX_DELAY_MS, SLOTS, WINDOW_MS } from './rig.ts';

type ModelEvent =
  | { type: 'LOAD' } | { type: 'ROLL' } | { type: 'CRASH' } | { type: 'CRASH_HOLDER' } | { type: 'LEAVE' } | { type: 'JOIN' }
  | { type: 'PAUSE' } | { type: 'RESUME' } | { type: 'PARTITION' } | { type: 'HEAL' };

interface ModelContext { up: number; paused: number; down: number; partitioned: boolean }

// Nodes are interchangeable, so the model counts them; the driver picks which one (the holder for
// CRASH_HOLDER and PARTITION, another node otherwise). At least one node stays up.
const clusterModel = setup({
  types: { context: {} as ModelContext, events: {} as ModelEvent },
  guards: {
    twoUp: ({ context }) => context.up >= 2,
    anyPaused: ({ context }) => context.paused > 0,
    // A node (re)started inside a minority partition knows no members, and the current election
    // lets it win a majority of itself: a second holder (docs/strict-limits.md, "Membership is the
    // weak spot"). The model walks it once a fixed voter set closes that gap; until then a join
    // happens while the network is whole.
    anyDown: ({ context }) => context.down > 0 && !context.partitioned,
    canPartition: ({ context }) => !context.partitioned && context.up >= 2,
    partitioned: ({ context }) => context.partitioned,
  },
}).createMachine({
  id: 'cluster',
  context: { up: 3, paused: 0, down: 0, partitioned: false },
  on: {
    LOAD: {},
    ROLL: {},
    CRASH: { guard: 'twoUp', actions: assign(({ context }) => ({ up: context.up - 1, down: context.down + 1 })) },
    CRASH_HOLDER: { guard: 'twoUp', actions: assign(({ context }) => ({ up: context.up - 1, down: context.down + 1 })) },
    LEAVE: { guard: 'twoUp', actions: assign(({ context }) => ({ up: context.up - 1, down: context.down + 1 })) },
    PAUSE: { guard: 'twoUp', actions: assign(({ context }) => ({ up: context.up - 1, paused: context.paused + 1 })) },
    RESUME: { guard: 'anyPaused', actions: assign(({ context }) => ({ up: context.up + 1, paused: context.paused - 1 })) },
    JOIN: { guard: 'anyDown', actions: assign(({ context }) => ({ up: context.up + 1, down: context.down - 1 })) },
    PARTITION: { guard: 'canPartition', actions: assign({ partitioned: true }) },
    HEAL: { guard: 'partitioned', actions: assign({ partitioned: false }) },
  },
});

const EVENTS: ModelEvent[] = ['LOAD', 'ROLL', 'CRASH', 'CRASH_HOLDER', 'LEAVE', 'JOIN', 'PAUSE', 'RESUME', 'PARTITION', 'HEAL'].map((type) => ({ type }) as ModelEvent);

/** Virtual time each step runs for after its event: longer than deadAfterMs, so changes are seen. */
const STEP_MS = 700;
/** Requests per node per target during a LOAD step (spread over it), and at a window edge in ROLL. */
const LOAD_PER_NODE = 8;
const RANDOM_WALKS = 40;
const WALK_STEPS = 8;

// ---- The oracle's arithmetic, from docs/limits.md, never from src ----------------------------
// "admitted ≤ limit + Σ_nodes (admission rate) × (syncMs + busDelayMs) (+ syncMs per delta lost in a
// row)". The admission rate is what each node actually took up: per node, the most approximate
// requests it took within any span of that length. Deltas can go missing around a fault (a crash,
// a cut, a pause, a join or leave): up to staleMs / syncMs in a row (staleMs defaults to
// 5 × syncMs, docs/limits.md "Degraded mode"), after which the node is degraded and keeps to its share.
// A node cut off for longer (isolated, or paused) admits its safe share, floor(limit / cluster size),
// on its own, while the others, once membership drops it, admit the whole limit among themselves:
// each cut-off node adds its share.
const STALE_DELTAS = 5;
const SHARE = Math.floor(LIMIT / SLOTS.length);

function approxBound(rig: ClusterRig, w: number): number {
  const blind = (spanMs: number) => {
    let total = 0;
    for (const id of SLOTS) {
      const times = rig.requests.filter((r) => r.target === 'a' && r.node === id && r.takenAt !== undefined).map((r) => r.takenAt!)
        .filter((t) => t >= w * WINDOW_MS - spanMs && t < (w + 1) * WINDOW_MS).sort((a, b) => a - b);
      let most = 0;
      for (let i = 0, j = 0; i < times.length; i++) { while (times[i]! - times[j]! >= spanMs) j++; most = Math.max(most, i - j + 1); }
      total += most;
    }
    return total;
  };
  const faulted = rig.disturbances.some((t) => t >= w * WINDOW_MS - STALE_DELTAS * CLUSTER.syncMs && t < (w + 1) * WINDOW_MS);
  const cut = new Set(rig.cutOff.filter((c) => c.from < (w + 1) * WINDOW_MS && c.to + STALE_DELTAS * CLUSTER.syncMs >= w * WINDOW_MS).map((c) => c.id));
  return LIMIT + blind(CLUSTER.syncMs + MAX_DELAY_MS) + (faulted ? STALE_DELTAS * blind(CLUSTER.syncMs) : 0) + cut.size * SHARE;
}

let carriedAcrossEdges = 0;

function checkStep(rig: ClusterRig, label: string): void {
  carriedAcrossEdges = 0;
  for (const r of rig.requests) assert.ok(r.answers <= 1, `${label}: a request to ${r.node} answered ${r.answers} times`);
  // Strict, counted where calls land (a call travels 0..MAX_DELAY_MS to the upstream): at most the
  // limit in every wall-clock window, requests at window edges included (ROLL). Calls decided within
  // the travel time before a window starts are reported: those are the ones that may land across the edge.
  for (const [w, n] of rig.sink.s) {
    const early = rig.requests.filter((r) => r.target === 's' && r.outcome === 'admitted' && r.decidedAt! < w * WINDOW_MS && r.decidedAt! >= w * WINDOW_MS - MAX_DELAY_MS);
    carriedAcrossEdges += early.length;
    assert.ok(n <= LIMIT, `${label}: strict window ${w % 1000} made ${n} upstream calls; limit ${LIMIT}`);
  }
  for (const [w, n] of rig.sink.a) {
    const bound = approxBound(rig, w);
    assert.ok(n <= bound, `${label}: approximate window ${w % 1000} made ${n} upstream calls; bound ${bound}`);
  }
  assert.ok(rig.holders().length <= 1, `${label}: ${rig.holders().join(' and ')} hold the singleton at once`);
}

// Time bounds, on the virtual clock, from the docs: a silent member is dropped within deadAfterMs
// and the heartbeat tick that notices it (docs/limits.md, membership); a successor holds within
// leaseMs + 2 × renewMs plus bus delay after the holder stops, leaseMs = 3 heartbeats, renewMs = 1
// (docs/strict-limits.md, "Failover time"). Checked when the crash leaves a whole, running majority.
const NOTICE_WITHIN_MS = CLUSTER.deadAfterMs + CLUSTER.heartbeatMs + MAX_DELAY_MS;
const SUCCESSOR_WITHIN_MS = 3 * CLUSTER.heartbeatMs + 2 * CLUSTER.heartbeatMs + 2 * MAX_DELAY_MS;

function checkCrash(rig: ClusterRig, victim: string, wasHolder: boolean, at: number, label: string): void {
  if (rig.partitioned || rig.ids('paused').length > 0) return;
  for (const id of rig.ids('up')) {
    const seen = rig.dropped.find((d) => d.by === id && d.member === victim && d.at >= at);
    assert.ok(seen && seen.at - at <= NOTICE_WITHIN_MS, `${label}: ${id} dropped the crashed ${victim} ${seen ? `${seen.at - at} ms` : 'never'} after; bound ${NOTICE_WITHIN_MS} ms`);
  }
  if (wasHolder && rig.ids('up').length >= 2) {
    const next = rig.sessions.find((x) => x.id !== victim && x.at >= at);
    assert.ok(next && next.at - at <= SUCCESSOR_WITHIN_MS, `${label}: a successor held ${next ? `${next.at - at} ms` : 'never'} after the holder crashed; bound ${SUCCESSOR_WITHIN_MS} ms`);
  }
}

// ---- The driver: one model event on the real cluster -------------------------------------------
async function step(rig: ClusterRig, e: ModelEvent, label: string): Promise<void> {
  const now = rig.clock.now();
  let crashed: { victim: string; wasHolder: boolean } | undefined;
  const live = () => SLOTS.filter((id) => rig.state(id) !== 'down');
  const holder = () => rig.holders()[0];
  const upNonHolder = () => rig.ids('up').find((id) => id !== holder()) ?? rig.ids('up')[0]!;
  switch (e.type) {
    case 'LOAD':
      for (let k = 0; k < LOAD_PER_NODE; k++) {
        await rig.runUntil(now + Math.floor((k * STEP_MS) / LOAD_PER_NODE));
        for (const id of live()) { rig.arrive(id, 'a'); rig.arrive(id, 's'); }
      }
      break;
    case 'ROLL': {
      // To just before the next window edge, requests on both sides of it.
      const edge = (Math.floor(now / WINDOW_MS) + 1) * WINDOW_MS;
      await rig.runUntil(edge - 2);
      for (const id of live()) for (let k = 0; k < LOAD_PER_NODE / 2; k++) { rig.arrive(id, 'a'); rig.arrive(id, 's'); }
      await rig.runUntil(edge);
      for (const id of live()) for (let k = 0; k < LOAD_PER_NODE / 2; k++) { rig.arrive(id, 'a'); rig.arrive(id, 's'); }
      break;
    }
    case 'CRASH': { const v = upNonHolder(); crashed = { victim: v, wasHolder: v === holder() }; await rig.crash(v); break; }
    case 'CRASH_HOLDER': { const v = holder() ?? rig.ids('up')[0]!; crashed = { victim: v, wasHolder: v === holder() }; await rig.crash(v); break; }
    case 'LEAVE': await rig.leave(upNonHolder()); break;
    case 'JOIN': rig.start(rig.ids('down')[0]!); break;
    case 'PAUSE': rig.pause(upNonHolder()); break;
    case 'RESUME': rig.resume(rig.ids('paused')[0]!); break;
    case 'PARTITION': rig.isolate(holder() ?? rig.ids('up')[0]!); break;
    case 'HEAL': rig.heal(); break;
  }
  await rig.runUntil(Math.max(rig.clock.now(), now + STEP_MS));
  if (crashed) checkCrash(rig, crashed.victim, crashed.wasHolder, now, label);
}

const model = suite('cluster (model-based, real actors on LocalBus and the virtual clock)', { timeoutMs: 170_000 });

model('every path through crashes, holder crashes, leaves, joins, pauses, partitions, load and window edges keeps the promises', async () => {
  const test = createTestModel(clusterModel, {
    events: EVENTS,
    // A vertex per (state, event that reached it): each event is walked from every state it can leave.
    serializeTransition: (_state, event) => (event ? event.type : ''),
  });
  // The graph also walks events a state's guards refuse (the state stays as it was); such a path ends
  // in a step that means nothing, so it is left out.
  const changes = (t: ModelEvent['type']) => t !== 'LOAD' && t !== 'ROLL';
  const ctxKey = (c: ModelContext) => JSON.stringify(c);
  const paths = test.getShortestPaths({ limit: 5_000, events: EVENTS }).filter((path) => {
    let prev = ctxKey(clusterModel.config.context as ModelContext);
    for (const st of path.steps) {
      const next = ctxKey(st.state.context as ModelContext);
      if (!st.event.type.startsWith('xstate.') && changes(st.event.type as ModelEvent['type']) && next === prev) return false;
      prev = next;
    }
    return true;
  });
  const shortest = paths.map((path) => path.steps.map((st) => st.event as ModelEvent).filter((e) => !e.type.startsWith('xstate.')));
  // Shortest paths reach every (state, event) pair but stay short; seeded random walks over the same
  // model (enabled events only) add longer sequences: faults on top of faults.
  const walks: ModelEvent[][] = [];
  const pick = seeded(2026);
  for (let k = 0; k < RANDOM_WALKS; k++) {
    let snap = createActor(clusterModel).getSnapshot();
    const walk: ModelEvent[] = [];
    while (walk.length < WALK_STEPS) {
      const e = EVENTS[Math.floor(pick() * EVENTS.length)]!;
      const next = getNextSnapshot(clusterModel, snap, e);
      if (changes(e.type) && ctxKey(next.context) === ctxKey(snap.context)) continue; // refused by a guard
      walk.push(e);
      snap = next;
    }
    walks.push(walk);
  }
  const all = [...shortest, ...walks];
  console.log(`cluster model: ${all.length} paths (${shortest.length} shortest, ${walks.length} random walks), ${all.reduce((s, p) => s + p.length, 0)} steps`);
  assert.ok(shortest.length >= 30 && all.length <= 400, `${all.length} paths`);
  let requests = 0;
  let carried = 0;
  let strictAdmitted = 0;
  let approxAdmitted = 0;
  for (const [i, events] of all.entries()) {
    const rig = new ClusterRig(i + 1);
    for (const id of SLOTS) rig.start(id);
    // Warm up until one holder is elected and everyone knows it.
    const deadline = rig.clock.now() + 5_000;
    while (rig.holders().length !== 1 && rig.clock.now() < deadline) await rig.runUntil(rig.clock.now() + 50);
    assert.is(rig.holders().length, 1, `path ${i}: a holder is elected at the start`);
    const label = (k: number) => `path ${i} [${events.slice(0, k + 1).map((e) => e.type).join(' → ')}]`;
    for (const [k, e] of events.entries()) {
      const before = SLOTS.map((id) => rig.state(id)).join(',');
      try { await step(rig, e, label(k)); } catch (err) { throw new Error(`${label(k)} from ${before}: ${(err as Error).message}`); }
      checkStep(rig, label(k));
    }
    // Settle: heal, resume, let every wait end; then every request has exactly one answer.
    if (rig.partitioned) rig.heal();
    for (const id of rig.ids('paused')) rig.resume(id);
    await rig.runUntil(rig.clock.now() + 3_000);
    checkStep(rig, `${label(events.length - 1)} settled`);
    for (const r of rig.requests) assert.is(r.answers, 1, `${label(events.length - 1)}: a request to ${r.node} (${r.target}) at ${r.arrivedAt % 100_000} got ${r.answers} answers`);
    for (const id of SLOTS) if (rig.state(id) !== 'down') await rig.leave(id);
    await rig.runUntil(rig.clock.now() + 100);
    assert.equal(rig.leftovers(), { timers: 0, subscriptions: 0, held: 0, queued: 0 }, `${label(events.length - 1)}: nothing left behind`);
    requests += rig.requests.length;
    carried += carriedAcrossEdges;
    for (const n of rig.sink.s.values()) strictAdmitted += n;
    for (const n of rig.sink.a.values()) approxAdmitted += n;
  }
  console.log(`cluster model: ${requests} requests, ${approxAdmitted} approximate and ${strictAdmitted} strict upstream calls (${carried} strict calls decided within the travel time of a window's end)`);
  assert.ok(strictAdmitted > 0 && approxAdmitted > 0, 'the limits admitted something');
});

model.run();
