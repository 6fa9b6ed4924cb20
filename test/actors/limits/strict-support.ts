// Helpers for strict-limit actor tests: a singleton view the test sets by hand, and a holder server
// plus clients on one LocalNetwork and VirtualClock.
import { VirtualClock } from '../../../src/clock.ts';
import { LocalNetwork, type LocalBus, type NetworkFaults } from '../../../src/bus/local-bus.ts';
import { limitSchema, type LimitConfig } from '../../../src/config/schema.ts';
import type { HolderSession, HolderView } from '../../../src/cluster/election-types.ts';
import type { SingletonView } from '../../../src/actors/singleton-view.ts';
import { StrictServer } from '../../../src/actors/limits/strict-server.ts';
import { StrictEnforcer } from '../../../src/actors/limits/strict-enforcer.ts';
import type { Decision } from '../../../src/limit/decision.ts';
import type { SimOutcome } from '../../../src/cli/simulate-cluster.ts';
import * as assert from 'uvu/assert';

/** A singleton whose holder the test decides. Every node of a test shares one `Holder` record. */
export class ManualSingleton implements SingletonView {
  private readonly listeners = new Set<() => void>();
  constructor(readonly nodeId: string, private readonly world: { holder?: HolderView; session?: HolderSession }) {}
  holder(): HolderView | undefined { return this.world.holder; }
  session(): HolderSession | undefined { return this.world.holder?.id === this.nodeId ? this.world.session : undefined; }
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  notify(): void { for (const fn of this.listeners) fn(); }
}

export const WINDOW_MS = 1_000;
export const T0 = 1_700_000_000_000; // a window boundary

export function strictLimit(o: Record<string, unknown> = {}): LimitConfig {
  return limitSchema.parse({ name: 'rps', limit: 100, windowMs: WINDOW_MS, mode: 'strict', ...o });
}

export interface Rig {
  clock: VirtualClock;
  network: LocalNetwork;
  world: { holder?: HolderView; session?: HolderSession };
  singletons: Map<string, ManualSingleton>;
  servers: Map<string, StrictServer>;
  buses: Map<string, LocalBus>;
  client(id: string, limit?: LimitConfig): StrictEnforcer;
  /** Makes `id` the holder of `term`; predecessorKnown fences the windows it may have leased from. */
  elect(id: string, term: number, predecessorKnown?: boolean): void;
  /** Runs the clock `ms` forward 1 ms at a time, letting promise continuations run in between. */
  run(ms: number): Promise<void>;
}

const drain = () => new Promise<void>((r) => setImmediate(r));

export function rig(nodes: string[], faults: NetworkFaults = {}): Rig {
  const clock = new VirtualClock(T0);
  const network = new LocalNetwork(clock, { delayMs: () => 1, ...faults });
  const world: Rig['world'] = {};
  const singletons = new Map<string, ManualSingleton>();
  const servers = new Map<string, StrictServer>();
  const buses = new Map<string, LocalBus>();
  for (const id of nodes) {
    const bus = network.connect(id);
    const s = new ManualSingleton(id, world);
    const server = new StrictServer(bus, clock, s, { cluster: 'c', maxClockSkewMs: 0 });
    server.start();
    buses.set(id, bus);
    singletons.set(id, s);
    servers.set(id, server);
  }
  return {
    clock, network, world, singletons, servers, buses,
    client: (id, limit = strictLimit()) => new StrictEnforcer(limit, 't', {
      nodeId: id, clusterName: 'c', clock, bus: buses.get(id)!, singleton: singletons.get(id)!, askTimeoutMs: 50,
    }),
    elect: (id, term, predecessorKnown = false) => {
      world.holder = { id, term };
      world.session = { term, acquiredAt: clock.now(), predecessorKnown };
      for (const s of singletons.values()) s.notify();
    },
    run: async (ms) => {
      for (let i = 0; i < ms; i++) {
        clock.advance(1);
        await drain();
      }
      await drain();
    },
  };
}

/** Admits and runs the clock until the decision is known. */
export async function decide(r: Rig, c: StrictEnforcer, key = 'k', cost = 1, waitMs = 50): Promise<Decision> {
  const d = c.admit(key, cost, r.clock.now());
  if (!(d instanceof Promise)) return d;
  let out: Decision | undefined;
  void d.then((x) => { out = x; });
  for (let i = 0; i < waitMs && !out; i++) await r.run(1);
  if (!out) throw new Error('no decision');
  return out;
}

/** Zipf-like demand: node i gets 1/(i+1) of the share, every fourth node none. */
export function uneven(nodes: number, total: number): number[] {
  const w = Array.from({ length: nodes }, (_, i) => (i % 4 === 3 ? 0 : 1 / (i + 1)));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => (x / sum) * total);
}

/**
 * The oracle of issue #12, on the simulation's own counts (none taken from the limiter): every request
 * answered exactly once; in every window, the calls that reached the simulated upstream — counted by
 * the wall-clock window they landed in — at most the limit. Returns the use of the limit (upstream
 * calls / limit) in windows with excess demand and no fault.
 */
export function check(o: SimOutcome, label: string): { mean: number; min: number } {
  const { limit } = o.spec;
  const a = o.answers;
  assert.is(a.once, a.requests, `${label}: ${a.requests} requests, ${a.never} never answered, ${a.moreThanOnce} answered more than once`);
  // Every request the simulation sent got exactly one decision, crashed nodes included.
  for (const n of o.nodes) assert.is(n.granted + n.rejected, n.requests, `${label}: ${n.id} answered ${n.granted} + ${n.rejected} of ${n.requests} requests`);
  assert.is(o.windows.reduce((s, w) => s + w.upstream, 0), o.nodes.reduce((s, n) => s + n.granted, 0), `${label}: every granted call reached the upstream`);
  for (const w of o.windows) assert.ok(w.upstream <= limit, `${label}: window at ${w.startMs} ms: ${w.upstream} calls at the upstream > ${limit}`);
  if (o.spec.edgeRequests) {
    for (const w of o.windows.filter((x) => x.demanded > 0)) assert.ok(w.edgeDemanded > 0, `${label}: no request at the edges of window ${w.startMs}`);
  }
  const busy = o.windows.filter((w) => !w.faulted && w.demanded >= 1.2 * limit).map((w) => w.upstream / limit);
  assert.ok(busy.length > 0, `${label}: no window had excess demand`);
  return { mean: busy.reduce((a, b) => a + b, 0) / busy.length, min: Math.min(...busy) };
}
