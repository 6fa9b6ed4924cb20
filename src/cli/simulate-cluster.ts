// A whole sluice cluster's rate limiting in one process: N nodes on a LocalNetwork with a
// VirtualClock, each with its membership and either the strict limiter (singleton election, holder
// server, prefetch client — the real actors) or the approximate core gossiping deltas. Load arrives
// per node (even, Poisson or bursty); faults (holder crash, holder isolated, healing) happen at set
// times. The outcome is per node (requests, granted, rejected) and per window (granted against the
// limit). Time moves 1 ms at a time, and promise continuations run between steps, so request/reply
// over the bus behaves as it would on a real clock. Used by `sluice simulate`, tests and the bench.
//
// The oracle owes nothing to the code under test (issue #12): each granted request calls a simulated
// upstream that it reaches a seeded travel time later, and the upstream counts calls by the
// wall-clock window they land in, computed here from windowMs (never the limiter's window id); every
// request's answers are counted too, so a request answered twice or never shows.
import { promiseHooks } from 'node:v8';
import { LocalNetwork, type LocalBus } from '../bus/local-bus.ts';
import { VirtualClock } from '../clock.ts';
import type { LimitConfig } from '../config/schema.ts';
import { asNodeId, type NodeId } from '../crdt/node-id.ts';
import { ApproximateLimiter, defaultStaleMs } from '../limit/approximate-limiter.ts';
import type { Decision } from '../limit/decision.ts';
import type { PrefetchConfig } from '../limit/prefetch.ts';
import { Membership } from '../actors/membership.ts';
import { Singleton, singletonTimings, successorWithinMs } from '../actors/singleton.ts';
import { StrictServer } from '../actors/limits/strict-server.ts';
import { StrictEnforcer } from '../actors/limits/strict-enforcer.ts';
import { localRatio } from '../actors/limits/strict-metrics.ts';
import { seeded } from '../random.ts';

export type Arrivals = 'even' | 'poisson' | 'bursty';

export interface SimFault {
  /** Ms after the load starts. */
  readonly atMs: number;
  readonly kind: 'crash-holder' | 'isolate-holder' | 'heal';
}

export interface SimSpec {
  mode: 'strict' | 'approximate';
  nodes: number;
  /** Seconds of load. */
  seconds: number;
  /** Units (requests) per window, cluster-wide. */
  limit: number;
  windowMs: number;
  /** Requests per second offered to each node: one rate for all, or one per node. */
  rate: number | readonly number[];
  arrivals?: Arrivals;
  seed?: number;
  /** One-way bus delay per message, uniform in [min, max] ms. Default 1..5. */
  delayMs?: { min: number; max: number };
  /** Share of bus messages lost. */
  dropRate?: number;
  faults?: readonly SimFault[];
  prefetch?: Partial<PrefetchConfig>;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** Approximate mode's gossip interval. */
  syncMs?: number;
  maxClockSkewMs?: number;
  /** Travel time of a granted call to the upstream, uniform in [min, max] ms. Default 1..3. */
  upstreamMs?: { min: number; max: number };
  /** The strict limit's `edgeMs` (limits[].edgeMs); unset, the config default. */
  edgeMs?: number;
  /** Extra requests per node in each of the first and last 100 ms of every window (edges). Default 0. */
  edgeRequests?: number;
}

export interface NodeOutcome {
  id: string;
  requests: number;
  granted: number;
  rejected: number;
  /** Calls from this node that reached the upstream (one per granted request: no batching here). */
  upstreamCalls: number;
  /** Strict: share of decisions made without waiting on the bus. */
  localRatio: number;
  crashed: boolean;
}

export interface WindowOutcome {
  /** Window start, ms after the load started. */
  startMs: number;
  /** Calls the upstream received in this window, by when they arrived there: what the limit bounds. */
  upstream: number;
  /** Requests answered "allowed" while this window ran (by the simulation's clock). */
  granted: number;
  demanded: number;
  /** Requests that arrived in the first or last 100 ms of this window. */
  edgeDemanded: number;
  /** Upstream calls in this window from each node, in the order of SimOutcome.nodes. */
  upstreamByNode: number[];
  /**
   * A holder crash or isolation touched this window: it fell between the fault and the time a
   * successor holds plus the clock-skew fence, so the successor treats it as spent but for returns.
   */
  faulted: boolean;
}

export interface SimOutcome {
  spec: SimSpec;
  /** Requests sent, and how they were answered: once each is the promise. */
  answers: { requests: number; once: number; never: number; moreThanOnce: number };
  nodes: NodeOutcome[];
  windows: WindowOutcome[];
  /** Holder changes seen by the node that saw most (strict). */
  holderChanges: number;
  /** Longest time any surviving node knew no holder, during the load, ms (strict). */
  withoutHolderMs: number;
  leaseAsks: number;
  /** Permit units leased to nodes, and given back unspent (strict). */
  unitsLeased: number;
  unitsReturned: number;
  busMessages: number;
  /** Wall-clock ms the simulation took. */
  tookMs: number;
}

export const SIM_CLUSTER = 'sim';

/**
 * The simulated limit as the config loader makes it (limitSchema's defaults), written out so that
 * `sluice simulate` does not load the schema library (a third of its start-up). A test parses the
 * same input with limitSchema and expects this: a new default there fails it until added here.
 */
export function simLimit(spec: Pick<SimSpec, 'limit' | 'windowMs' | 'mode' | 'prefetch' | 'edgeMs'>): LimitConfig {
  return {
    name: 'sim', dimension: 'requests', per: 'target', limit: spec.limit, windowMs: spec.windowMs, mode: spec.mode,
    onLimit: 'reject', maxQueueMs: 10_000, degraded: 'safe-share', enforce: true, tokenHeader: 'x-token-estimate',
    prefetch: { predictWindowMs: 1_000, minPrefetch: 10, closeWaitMs: 500, ...spec.prefetch },
    edgeMs: spec.edgeMs ?? 0,
  };
}
const DEFAULT_HEARTBEAT_MS = 100;

interface SimNode {
  id: string;
  upstreamCalls: number;
  bus: LocalBus;
  membership: Membership;
  admit: (cost: number, now: number) => Decision | Promise<Decision>;
  stop: () => Promise<void>;
  singleton?: Singleton;
  enforcer?: StrictEnforcer;
  requests: number;
  granted: number;
  rejected: number;
  crashed: boolean;
}

const drain = () => new Promise<void>((r) => setImmediate(r));

export interface SimRunOptions {
  /** Called about once per simulated second with the virtual ms done and the total to run. */
  onProgress?: (doneMs: number, totalMs: number) => void;
}

export async function simulateCluster(spec: SimSpec, run: SimRunOptions = {}): Promise<SimOutcome> {
  const started = performance.now();
  const random = seeded(spec.seed ?? 1);
  const heartbeatMs = spec.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const deadAfterMs = spec.deadAfterMs ?? 5 * heartbeatMs;
  const timings = singletonTimings({ heartbeatMs, deadAfterMs });
  // One clock for every node: no skew unless the spec asks the fence to allow for some.
  const skewMs = spec.maxClockSkewMs ?? 0;
  const { min = 1, max = 5 } = spec.delayMs ?? {};
  // Windows are aligned to epoch multiples, as on real nodes; the clock starts well after zero.
  const epoch = Math.ceil(1_700_000_000_000 / spec.windowMs) * spec.windowMs;
  const clock = new VirtualClock(epoch);
  const network = new LocalNetwork(clock, {
    delayMs: () => min + Math.floor(random() * (max - min + 1)), dropRate: spec.dropRate ?? 0, random,
  });
  const limit = simLimit(spec);
  // The oracle's own random streams, apart from the bus's, so adding it changes no decision.
  const travelRandom = seeded(((spec.seed ?? 1) * 7919 + 17) >>> 0);
  const edgeRandom = seeded(((spec.seed ?? 1) * 104_729 + 31) >>> 0);
  const travel = spec.upstreamMs ?? { min: 1, max: 3 };
  const ids = Array.from({ length: spec.nodes }, (_, i) => `n${String(i + 1).padStart(spec.nodes >= 10 ? 2 : 1, '0')}`);
  const nodes = ids.map((id) => (spec.mode === 'strict' ? strictNode(id) : approximateNode(id)));

  function strictNode(id: string): SimNode {
    const bus = network.connect(id);
    const membership = new Membership(bus, clock, { nodeId: id, cluster: SIM_CLUSTER, heartbeatMs, deadAfterMs });
    // A fixed voter set, as a production cluster should run: quorums intersect through any partition.
    const singleton = new Singleton(bus, clock, membership, { nodeId: id, cluster: SIM_CLUSTER, ...timings, voters: ids });
    const server = new StrictServer(bus, clock, singleton, { cluster: SIM_CLUSTER, maxClockSkewMs: skewMs });
    const enforcer = new StrictEnforcer(limit, 'sim', { nodeId: id, clusterName: SIM_CLUSTER, clock, bus, singleton });
    membership.start();
    singleton.start();
    server.start();
    return {
      id, bus, membership, singleton, enforcer, requests: 0, granted: 0, rejected: 0, upstreamCalls: 0, crashed: false,
      admit: (cost, now) => enforcer.admit('target', cost, now),
      stop: async () => { await enforcer.close(); server.stop(); singleton.stop(); membership.stop(); },
    };
  }

  function approximateNode(id: string): SimNode {
    const bus = network.connect(id);
    const syncMs = spec.syncMs ?? 100;
    const membership = new Membership(bus, clock, { nodeId: id, cluster: SIM_CLUSTER, heartbeatMs, deadAfterMs });
    const limiter = new ApproximateLimiter({ nodeId: asNodeId(id), name: 'sim', limit: spec.limit, windowMs: spec.windowMs, staleMs: defaultStaleMs(syncMs) });
    limiter.setMembers(ids.map(asNodeId), clock.now());
    const subject = `sluice.${SIM_CLUSTER}.sim.gossip`;
    const sub = bus.subscribe(subject, (m) => {
      const d = m.data as { from?: unknown; payload?: unknown };
      if (typeof d?.from === 'string' && d.from !== id) limiter.mergeRemote(d.from as NodeId, d.payload, clock.now());
    });
    let ticks = 0;
    let timer: unknown;
    const gossip = () => {
      const now = clock.now();
      // Every tenth round repeats the full state: anti-entropy heals lost deltas.
      const payload = ++ticks % 10 === 0 ? limiter.fullState(now) : limiter.takeDelta(now);
      bus.publish(subject, { from: id, payload } as never);
      timer = clock.setTimeout(gossip, syncMs);
    };
    timer = clock.setTimeout(gossip, Math.floor(random() * syncMs));
    membership.start();
    return {
      id, bus, membership, requests: 0, granted: 0, rejected: 0, upstreamCalls: 0, crashed: false,
      admit: (cost, now) => limiter.admit('target', cost, now),
      stop: async () => { clock.clearTimeout(timer); sub.unsubscribe(); membership.stop(); },
    };
  }

  // Load starts on a window boundary once the singleton has had time to be elected.
  const warmupMs = spec.mode === 'strict' ? timings.graceMs + 3 * timings.renewMs : 2 * (spec.syncMs ?? 100);
  const loadStart = Math.ceil((epoch + warmupMs) / spec.windowMs) * spec.windowMs;
  const loadEnd = loadStart + Math.round(spec.seconds * 1000);
  const W = spec.windowMs;
  const granted = new Map<number, number>();
  const demanded = new Map<number, number>();
  const edgeDemanded = new Map<number, number>();
  const faultedWindows = new Set<number>();
  const bump = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);
  const windowAt = (t: number) => Math.floor(t / W);

  // The upstream stub: counts each call by the wall-clock window it arrives in.
  const upstream = new Map<number, number[]>();
  const reachUpstream = (node: SimNode) => {
    const at = clock.now() + travel.min + Math.floor(travelRandom() * (travel.max - travel.min + 1));
    clock.setTimeout(() => {
      const w = windowAt(clock.now());
      let row = upstream.get(w);
      if (!row) upstream.set(w, (row = nodes.map(() => 0)));
      row[nodes.indexOf(node)]!++;
      node.upstreamCalls++;
    }, at - clock.now());
  };
  // Answers per request: every request must get exactly one.
  const answerCounts: number[] = [];
  const answer = (node: SimNode, id: number, allowed: boolean) => {
    answerCounts[id]!++;
    if (!allowed) { node.rejected++; return; }
    node.granted++;
    bump(granted, windowAt(clock.now()));
    reachUpstream(node);
  };
  const arrive = (node: SimNode) => {
    if (node.crashed) return;
    const now = clock.now();
    node.requests++;
    const id = answerCounts.push(0) - 1;
    bump(demanded, windowAt(now));
    const phase = now - windowAt(now) * W;
    if (phase < 100 || phase >= W - 100) bump(edgeDemanded, windowAt(now));
    const r = node.admit(1, now);
    if (r instanceof Promise) r.then((d) => answer(node, id, d.allowed), () => answer(node, id, false));
    else answer(node, id, r.allowed);
  };
  nodes.forEach((node, i) => scheduleArrivals(node, i));

  function scheduleArrivals(node: SimNode, i: number): void {
    // Edge requests: in the first and last 100 ms of every window, where a call may land in the next.
    for (let w = windowAt(loadStart); w * W < loadEnd; w++) {
      for (let k = 0; k < (spec.edgeRequests ?? 0); k++) {
        for (const at of [w * W + Math.floor(edgeRandom() * 100), (w + 1) * W - 100 + Math.floor(edgeRandom() * 100)]) {
          if (at >= loadStart && at < loadEnd) clock.setTimeout(() => arrive(node), at - clock.now());
        }
      }
    }
    const rate = Array.isArray(spec.rate) ? (spec.rate as number[])[i] ?? 0 : (spec.rate as number);
    if (!(rate > 0)) return;
    const arrivals = spec.arrivals ?? 'even';
    const intervalMs = 1000 / rate;
    if (arrivals === 'even') {
      // Seed 002: n requests spread evenly; nodes offset a little so they do not arrive in lockstep.
      const count = Math.round(rate * spec.seconds);
      const offset = (i * 41) % Math.max(1, Math.floor(intervalMs));
      for (let k = 0; k < count; k++) clock.setTimeout(() => arrive(node), loadStart - clock.now() + Math.floor(k * intervalMs) + offset);
      return;
    }
    // Poisson arrivals; bursty ones come at 4× the rate for a quarter of each 800 ms, none otherwise.
    const phase = random() * 800;
    let t = loadStart;
    const next = () => {
      if (arrivals === 'bursty') {
        for (;;) {
          t += -Math.log(1 - random()) * (intervalMs / 4);
          if ((t - loadStart + phase) % 800 < 200) break;
        }
      } else t += -Math.log(1 - random()) * intervalMs;
      if (t >= loadEnd) return;
      clock.setTimeout(() => { arrive(node); next(); }, Math.max(0, Math.floor(t) - clock.now()));
    };
    next();
  }

  const holderNode = () => nodes.find((n) => !n.crashed && n.singleton?.session());
  // `at`: the millisecond the fault takes effect (applied just before the clock reaches it).
  const applyFault = async (f: SimFault, at: number) => {
    if (f.kind === 'heal') { network.heal(); return; }
    const until = at + (spec.mode === 'strict' ? successorWithinMs(timings) + 2 * skewMs : 0);
    for (let w = windowAt(at); w <= windowAt(until); w++) faultedWindows.add(w);
    const holder = holderNode();
    if (!holder) return;
    if (f.kind === 'isolate-holder') {
      network.partition([[holder.id], nodes.filter((n) => n !== holder).map((n) => n.id)]);
      return;
    }
    holder.crashed = true;
    await holder.bus.close(); // a crash: nothing it sends leaves any more, no graceful returns
    await holder.stop();
  };

  const faults = [...(spec.faults ?? [])].sort((a, b) => a.atMs - b.atMs);
  const settleEnd = loadEnd + 2 * spec.windowMs;
  let withoutHolderMs = 0;
  const gapSince = new Map<string, number>();
  const firstMs = clock.now();
  // Promise continuations must run before the next millisecond, which takes an event-loop turn. A
  // millisecond in which no promise was made or settled left none waiting, so it skips the turn
  // (approximate mode makes no promises at all; the turn was most of its run time).
  let promiseEvents = 0;
  const count = () => { promiseEvents++; };
  const stopCounting = promiseHooks.createHook({ init: count, settled: count });
  try {
    for (let t = firstMs + 1; t <= settleEnd; t++) {
      if (run.onProgress && (t - firstMs) % 1000 === 0 && t < settleEnd) run.onProgress(t - firstMs, settleEnd - firstMs);
      let busy = t === firstMs + 1; // continuations of the nodes' start may be waiting
      while (faults.length && loadStart + faults[0]!.atMs <= t) { await applyFault(faults.shift()!, t); busy = true; }
      const seen = promiseEvents;
      clock.advanceTo(t);
      if (busy || promiseEvents !== seen) await drain();
      if (spec.mode === 'strict' && t >= loadStart && t < loadEnd) {
        for (const n of nodes) {
          if (n.crashed) continue;
          if (n.singleton!.holder()) gapSince.delete(n.id);
          else if (!gapSince.has(n.id)) gapSince.set(n.id, t);
          else withoutHolderMs = Math.max(withoutHolderMs, t - gapSince.get(n.id)!);
        }
      }
    }
  } finally {
    stopCounting();
  }
  run.onProgress?.(settleEnd - firstMs, settleEnd - firstMs);
  for (const n of nodes) if (!n.crashed) await n.stop();
  await drain();

  const firstWindow = windowAt(loadStart);
  // Through the last window a call landed in: one sent late in the load may land after it.
  const lastWindow = Math.max(windowAt(loadEnd - 1), ...upstream.keys());
  const windows: WindowOutcome[] = [];
  for (let w = firstWindow; w <= lastWindow; w++) {
    const byNode = upstream.get(w) ?? nodes.map(() => 0);
    windows.push({
      startMs: w * W - loadStart, upstream: byNode.reduce((a, b) => a + b, 0), granted: granted.get(w) ?? 0,
      demanded: demanded.get(w) ?? 0, edgeDemanded: edgeDemanded.get(w) ?? 0, upstreamByNode: byNode, faulted: faultedWindows.has(w),
    });
  }
  return {
    spec,
    answers: {
      requests: answerCounts.length, once: answerCounts.filter((n) => n === 1).length,
      never: answerCounts.filter((n) => n === 0).length, moreThanOnce: answerCounts.filter((n) => n > 1).length,
    },
    nodes: nodes.map((n) => ({
      id: n.id, requests: n.requests, granted: n.granted, rejected: n.rejected, upstreamCalls: n.upstreamCalls,
      localRatio: n.enforcer ? localRatio(n.enforcer.stats) : 1, crashed: n.crashed,
    })),
    windows,
    holderChanges: Math.max(0, ...nodes.map((n) => n.singleton?.changes ?? 0)),
    withoutHolderMs,
    leaseAsks: nodes.reduce((s, n) => s + (n.enforcer?.stats.asks ?? 0), 0),
    unitsLeased: nodes.reduce((s, n) => s + (n.enforcer?.stats.unitsGranted ?? 0), 0),
    unitsReturned: nodes.reduce((s, n) => s + (n.enforcer?.stats.unitsReturned ?? 0), 0),
    busMessages: nodes.reduce((s, n) => s + n.bus.stats.published, 0),
    tookMs: performance.now() - started,
  };
}
