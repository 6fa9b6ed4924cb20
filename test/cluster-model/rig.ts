// The system under test of the cluster model: three node slots, each running the real per-node
// actors a SluiceNode wires (Membership, Singleton, StrictServer, LimitGossip, and ConfiguredLimits
// for two targets: one approximate limit, one strict) on one LocalNetwork and one VirtualClock.
// Faults are applied to the real parts: a crash closes the node's bus endpoint first (nothing it
// sends leaves any more, no goodbye, no lease returned) and then frees its timers; a pause holds the
// node's timers, messages and requests until it resumes (as SIGSTOP does), on a per-node clock view.
// Everything the oracle needs is recorded here, as observed from outside the code under test.
import { VirtualClock, type Clock, type TimerId } from '../../src/clock.ts';
import { LocalNetwork, type LocalBus } from '../../src/bus/local-bus.ts';
import type { Bus, BusHandler, Json, SubscribeOptions } from '../../src/bus/bus.ts';
import { parseTarget } from '../../src/config/load.ts';
import type { Config, TargetConfig } from '../../src/config/schema.ts';
import { Membership } from '../../src/actors/membership.ts';
import { Singleton, singletonTimings } from '../../src/actors/singleton.ts';
import { StrictServer } from '../../src/actors/limits/strict-server.ts';
import { LimitGossip } from '../../src/actors/limits/gossip.ts';
import { ConfiguredLimits } from '../../src/actors/limits/target-limits.ts';
import { createStrictEnforcer } from '../../src/actors/limits/strict-enforcer.ts';
import type { TargetDeps } from '../../src/actors/target-runtime.ts';
import { NodeMetrics } from '../../src/metrics.ts';
import { seeded } from '../../src/random.ts';

export const WINDOW_MS = 1_000;
export const LIMIT = 12;
export const CLUSTER: Config['cluster'] = { name: 'model', heartbeatMs: 100, deadAfterMs: 500, syncMs: 50, maxClockSkewMs: 10 };
/** One-way bus delay, uniform in [1, MAX_DELAY_MS]. */
export const MAX_DELAY_MS = 4;
export const SLOTS = ['n1', 'n2', 'n3'] as const;

/** A node's view of the shared clock that can be stopped: timers set by the node wait while it is. */
class NodeClock implements Clock {
  paused = false;
  private held: Array<() => void> = [];

  constructor(private readonly base: VirtualClock) {}

  now(): number { return this.base.now(); }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId {
    const h: { id: TimerId; cleared: boolean } = { id: undefined, cleared: false };
    h.id = this.base.setTimeout(() => this.run(() => { if (!h.cleared) fn(); }), ms);
    return h;
  }

  clearTimeout(id: TimerId): void {
    const h = id as { id: TimerId; cleared: boolean } | undefined;
    if (!h) return;
    h.cleared = true;
    this.base.clearTimeout(h.id);
  }

  /** Runs `fn` now, or when the node resumes. */
  run(fn: () => void): void { if (this.paused) this.held.push(fn); else fn(); }

  /** On resume timers due during the stop fire first, then what arrived (libuv runs timers before I/O). */
  resume(): void {
    this.paused = false;
    for (const fn of this.held.splice(0)) fn();
  }

  drop(): void { this.held = []; }
  get holding(): number { return this.held.length; }
}

/** The node's bus: deliveries to a paused node, and answers to its requests, wait until it resumes. */
class NodeBus implements Bus {
  constructor(readonly inner: LocalBus, private readonly clock: NodeClock) {}
  get stats() { return this.inner.stats; }
  publish(subject: string, data: Json): void { this.inner.publish(subject, data); }
  subscribe(subject: string, handler: BusHandler, options?: SubscribeOptions) {
    return this.inner.subscribe(subject, (m) => this.clock.run(() => handler(m)), options);
  }
  request(subject: string, data: Json, timeoutMs: number): Promise<Json> {
    return new Promise((resolve, reject) => this.inner.request(subject, data, timeoutMs).then(
      (v) => this.clock.run(() => resolve(v)), (e) => this.clock.run(() => reject(e)),
    ));
  }
  close(): Promise<void> { return this.inner.close(); }
}

export type SlotState = 'up' | 'paused' | 'down';

interface Parts { clock: NodeClock; bus: NodeBus; membership: Membership; singleton: Singleton; server: StrictServer; gossip: LimitGossip; approx: ConfiguredLimits; strict: ConfiguredLimits }

export interface Req {
  node: string;
  target: 'a' | 's';
  arrivedAt: number;
  /** When the node took it up: on arrival, or when it resumed from a pause. */
  takenAt?: number;
  /** When the node decided (the node's own answer time). */
  decidedAt?: number;
  outcome?: 'admitted' | 'refused' | 'error';
  /** How many answers this request got: must end at exactly 1. */
  answers: number;
  /** The node crashed while the request waited: it is owed nothing from a dead process. */
  diedWith?: boolean;
}

export class ClusterRig {
  readonly clock: VirtualClock;
  readonly network: LocalNetwork;
  readonly requests: Req[] = [];
  /** Upstream calls by the window they land in (0..MAX_DELAY_MS after admission): the counting sink. */
  readonly sink = { a: new Map<number, number>(), s: new Map<number, number>() };
  /** Times (virtual) at which something may make approximate deltas go missing or late, for the bound. */
  readonly disturbances: number[] = [];
  /** Nodes cut off from the rest (isolated by a partition, or paused), from when to when. */
  readonly cutOff: Array<{ id: string; from: number; to: number }> = [];
  private readonly slots = new Map<string, { state: SlotState; parts?: Parts; startedAt?: number }>();
  private readonly random: () => number;
  private readonly targets: { a: TargetConfig; s: TargetConfig };
  partitioned: string | undefined;
  /** Each node's own reports: sessions it started (as holder) and members it dropped as silent. */
  readonly sessions: Array<{ id: string; term: number; at: number }> = [];
  readonly dropped: Array<{ by: string; member: string; at: number }> = [];
  /** The window the rig started in: nothing was granted before it. */
  readonly firstWindow: number;

  constructor(seed: number) {
    this.random = seeded(seed);
    // Start just after a window boundary, as the simulator does.
    this.clock = new VirtualClock(Math.ceil(1_700_000_000_000 / WINDOW_MS) * WINDOW_MS + 1);
    this.network = new LocalNetwork(this.clock, { delayMs: () => 1 + Math.floor(this.random() * MAX_DELAY_MS), random: this.random });
    const replicas = ['http://127.0.0.1:1'];
    this.targets = {
      a: parseTarget({ name: 'a', prefix: '/a', replicas, limits: [{ name: 'approx', limit: LIMIT, windowMs: WINDOW_MS }] }),
      s: parseTarget({ name: 's', prefix: '/s', replicas, limits: [{ name: 'strict', limit: LIMIT, windowMs: WINDOW_MS, mode: 'strict' }] }),
    };
    for (const id of SLOTS) this.slots.set(id, { state: 'down' });
    this.firstWindow = Math.floor(this.clock.now() / WINDOW_MS);
  }

  state(id: string): SlotState { return this.slots.get(id)!.state; }
  ids(state: SlotState): string[] { return SLOTS.filter((id) => this.state(id) === state); }

  start(id: string): void {
    const slot = this.slots.get(id)!;
    const clock = new NodeClock(this.clock);
    const bus = new NodeBus(this.network.connect(id), clock);
    const membership = new Membership(bus, clock, { nodeId: id, cluster: CLUSTER.name, heartbeatMs: CLUSTER.heartbeatMs, deadAfterMs: CLUSTER.deadAfterMs });
    const singleton = new Singleton(bus, clock, membership, { nodeId: id, cluster: CLUSTER.name, ...singletonTimings(CLUSTER) });
    const server = new StrictServer(bus, clock, singleton, { cluster: CLUSTER.name, maxClockSkewMs: CLUSTER.maxClockSkewMs ?? 0 });
    const gossip = new LimitGossip(bus, clock, { nodeId: id, cluster: CLUSTER.name, syncMs: CLUSTER.syncMs, random: this.random, membership });
    let term = 0;
    singleton.onChange(() => {
      const t = singleton.session()?.term ?? 0;
      if (t && t !== term) this.sessions.push({ id, term: t, at: this.clock.now() });
      term = t;
    });
    membership.onChange((c) => { if (c.type === 'member.left' && c.reason === 'silent') this.dropped.push({ by: id, member: c.id, at: this.clock.now() }); });
    membership.start();
    singleton.start();
    server.start();
    gossip.start();
    const deps: TargetDeps = {
      nodeId: id, clusterName: CLUSTER.name, clock, bus, metrics: new NodeMetrics({ node: id }), random: this.random, membership,
      cluster: CLUSTER, limitGossip: gossip, createStrictEnforcer, singleton,
    };
    const approx = new ConfiguredLimits(this.targets.a, deps, { gossip, strict: createStrictEnforcer });
    const strict = new ConfiguredLimits(this.targets.s, deps, { gossip, strict: createStrictEnforcer });
    slot.parts = { clock, bus, membership, singleton, server, gossip, approx, strict };
    slot.state = 'up';
    slot.startedAt = this.clock.now();
    this.disturbances.push(this.clock.now());
  }

  /** A graceful stop, in SluiceNode.stop's order: limits give leases back, then the holder resigns. */
  async leave(id: string): Promise<void> {
    const slot = this.slots.get(id)!;
    const p = slot.parts!;
    if (slot.state === 'paused') p.clock.resume();
    slot.state = 'down';
    await this.whileRunning(Promise.all([p.approx.close(), p.strict.close()]), `${id} closing its limits`);
    p.server.stop();
    p.singleton.stop();
    p.gossip.stop();
    p.membership.stop();
    await p.bus.close();
    this.disturbances.push(this.clock.now());
  }

  /** SIGKILL: the endpoint goes first, so nothing is said on the way out; then its timers are freed. */
  async crash(id: string): Promise<void> {
    const slot = this.slots.get(id)!;
    const p = slot.parts!;
    await p.bus.close();
    p.clock.drop();
    p.clock.paused = false;
    slot.state = 'down';
    for (const r of this.requests) if (r.node === id && r.answers === 0) r.diedWith = true;
    await this.whileRunning(Promise.all([p.approx.close(), p.strict.close()]), `${id} closing its limits`);
    p.server.stop();
    p.singleton.stop();
    p.gossip.stop();
    p.membership.stop();
    this.disturbances.push(this.clock.now());
  }

  pause(id: string): void {
    const slot = this.slots.get(id)!;
    slot.parts!.clock.paused = true;
    slot.state = 'paused';
    this.disturbances.push(this.clock.now());
    this.cutOff.push({ id, from: this.clock.now(), to: Infinity });
  }

  resume(id: string): void {
    const slot = this.slots.get(id)!;
    slot.state = 'up';
    slot.parts!.clock.resume();
    this.disturbances.push(this.clock.now());
    this.endCut(id);
  }

  isolate(id: string): void {
    this.partitioned = id;
    this.network.partition([[id], SLOTS.filter((x) => x !== id)]);
    this.disturbances.push(this.clock.now());
    this.cutOff.push({ id, from: this.clock.now(), to: Infinity });
  }

  heal(): void {
    if (this.partitioned) this.endCut(this.partitioned);
    this.partitioned = undefined;
    this.network.heal();
    this.disturbances.push(this.clock.now());
  }

  private endCut(id: string): void {
    for (const c of this.cutOff) if (c.id === id && c.to === Infinity) c.to = this.clock.now();
  }

  /** The node that holds the singleton lease now (its own view), if any. */
  holders(): string[] {
    return SLOTS.filter((id) => this.state(id) === 'up' && this.slots.get(id)!.parts!.singleton.session() !== undefined);
  }

  /** A request arrives at node `id` for target `t`; a paused node takes it when it resumes. */
  arrive(id: string, t: 'a' | 's'): void {
    const slot = this.slots.get(id)!;
    const req: Req = { node: id, target: t, arrivedAt: this.clock.now(), answers: 0 };
    this.requests.push(req);
    const p = slot.parts!;
    p.clock.run(() => {
      req.takenAt = this.clock.now();
      const limits = t === 'a' ? p.approx : p.strict;
      limits.admitUpstreamCall({ requests: 1, tokens: 0 }).then(
        (adm) => {
          this.answer(req, 'admitted');
          // The call travels to the upstream (0..MAX_DELAY_MS); the sink counts it by the window it lands in.
          this.clock.setTimeout(() => {
            const w = Math.floor(this.clock.now() / WINDOW_MS);
            this.sink[t].set(w, (this.sink[t].get(w) ?? 0) + 1);
          }, Math.floor(this.random() * (MAX_DELAY_MS + 1)));
          adm.settle({});
        },
        (err: { code?: string }) => this.answer(req, err?.code === 'SLUICE_RATE_LIMITED' ? 'refused' : 'error'),
      );
    });
  }

  private answer(req: Req, outcome: Req['outcome']): void {
    req.answers++;
    req.outcome ??= outcome;
    req.decidedAt ??= this.clock.now();
  }

  /** Awaits `work` while virtual time moves on (it may wait on the bus); fails if it never ends. */
  async whileRunning<T>(work: Promise<T>, what: string, maxMs = 10_000): Promise<T> {
    let done = false;
    const tracked = work.finally(() => { done = true; });
    const until = this.clock.now() + maxMs;
    await new Promise<void>((r) => setImmediate(r));
    while (!done) {
      if (this.clock.now() >= until) throw new Error(`${what} did not finish within ${maxMs} ms of virtual time`);
      await this.runUntil(this.clock.now() + 10);
    }
    return tracked;
  }

  /** Moves virtual time to `at`, letting promise continuations run at each instant a timer fired. */
  async runUntil(at: number): Promise<void> {
    // What was started at the current instant (an admission's answer) finishes at it, before time moves.
    await new Promise<void>((r) => setImmediate(r));
    for (;;) {
      const next = this.clock.nextDueAt;
      if (next === undefined || next > at) break;
      this.clock.advanceTo(next);
      await new Promise<void>((r) => setImmediate(r));
    }
    this.clock.advanceTo(at);
    await new Promise<void>((r) => setImmediate(r));
  }

  /** What is left behind once every node has stopped: timers, subscriptions, held work, queued requests. */
  leftovers(): { timers: number; subscriptions: number; held: number; queued: number } {
    let held = 0;
    let queued = 0;
    for (const s of this.slots.values()) {
      held += s.parts?.clock.holding ?? 0;
      queued += (s.parts?.approx.queued ?? 0) + (s.parts?.strict.queued ?? 0);
    }
    return { timers: this.clock.pending, subscriptions: this.network.subscriptions, held, queued };
  }
}
