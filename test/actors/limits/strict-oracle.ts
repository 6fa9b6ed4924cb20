// A strict-limit cluster on LocalBus and one VirtualClock (the real actors: membership, singleton,
// holder server, prefetch client), with an oracle that owes nothing to the code under test: admitted
// requests "call the upstream" after a small travel time, and a counting sink counts the calls by the
// TRUE wall-clock window they land in — never by the enforcer's window id. Every request must get
// exactly one answer (a node that crashes takes its pending ones with it, as a dropped connection
// would). Load includes requests in the first and last 100 ms of every window. Each node has its own
// clock (an offset on the shared one) so a test can move one. Issue #12.
import * as assert from 'uvu/assert';
import { VirtualClock, type Clock } from '../../../src/clock.ts';
import { LocalNetwork, type LocalBus } from '../../../src/bus/local-bus.ts';
import { limitSchema } from '../../../src/config/schema.ts';
import { Membership } from '../../../src/actors/membership.ts';
import { Singleton, singletonTimings } from '../../../src/actors/singleton.ts';
import { StrictServer } from '../../../src/actors/limits/strict-server.ts';
import { StrictEnforcer } from '../../../src/actors/limits/strict-enforcer.ts';
import { seeded } from '../../../src/random.ts';

export interface WorldSpec {
  nodes: string[];
  /** cluster.voters; default every node. */
  voters?: string[];
  limit: number;
  windowMs: number;
  /** Requests per second offered to each node, spread over the window, besides the edge requests. */
  rate: number;
  /** Requests per node in each of the first and last 100 ms of every window. */
  edgeRequests?: number;
  heartbeatMs?: number;
  maxClockSkewMs?: number;
  /** limits[].edgeMs: must exceed the upstream travel time below. */
  edgeMs?: number;
  seed?: number;
  dropRate?: number;
  /** cluster.booksDir: each voter keeps its copy of the books on disk there. */
  booksDir?: string;
  /** prefetch.predictWindowMs (default 500): a node's lease is about its demand over this long. */
  predictWindowMs?: number;
  /** The network's largest message in JSON characters, like NATS's max_payload (unset: none). */
  maxPayloadChars?: number;
  /** The singleton's largest list of book entries per message, JSON characters (unset: its default). */
  partChars?: number;
  /** Other client keys of the same limit: every node sends one request for each in every loaded window (large books). */
  clientKeys?: number;
}

/** A call reaches the upstream 0..UPSTREAM_TRAVEL_MS after its admission (true time). */
export const UPSTREAM_TRAVEL_MS = 3;
export const T0 = 1_700_000_000_000;

export interface WorldNode {
  id: string;
  clock: Clock & { offsetMs: number };
  bus: LocalBus;
  membership: Membership;
  singleton: Singleton;
  server: StrictServer;
  enforcer: StrictEnforcer;
  crashed: boolean;
  pending: Set<number>;
}

const drain = () => new Promise<void>((r) => setImmediate(r));

export class StrictWorld {
  readonly base: VirtualClock;
  readonly network: LocalNetwork;
  readonly nodes: WorldNode[];
  /** True window id → calls the upstream received in it (key `k`, the loaded one). */
  readonly upstream = new Map<number, number>();
  /** `<client key>#<true window id>` → calls, for the other client keys. */
  readonly keyCalls = new Map<string, number>();
  /** Every grant a holder answered, at true time. */
  /** `life`: which start of the holder's process (terms begin again at 1 after a whole-cluster restart). */
  readonly grants: Array<{ at: number; holder: string; term: number; life: number }> = [];
  private lives = 0;
  private readonly answers = new Map<number, number>();
  private readonly lostWithNode = new Set<number>();
  private nextReq = 0;
  private loadUntil = 0;
  private readonly random: () => number;
  readonly heartbeatMs: number;

  constructor(readonly spec: WorldSpec) {
    this.base = new VirtualClock(T0);
    this.random = seeded(spec.seed ?? 1);
    this.network = new LocalNetwork(this.base, { delayMs: () => 1 + Math.floor(this.random() * 3), dropRate: spec.dropRate ?? 0, random: this.random },
      spec.maxPayloadChars !== undefined ? { maxPayloadChars: spec.maxPayloadChars } : {});
    const heartbeatMs = this.heartbeatMs = spec.heartbeatMs ?? 100;
    const timings = singletonTimings({ heartbeatMs, deadAfterMs: 5 * heartbeatMs });
    const limit = limitSchema.parse({
      name: 'rps', limit: spec.limit, windowMs: spec.windowMs, mode: 'strict', ...(spec.edgeMs !== undefined ? { edgeMs: spec.edgeMs } : {}),
      prefetch: { predictWindowMs: spec.predictWindowMs ?? 500, minPrefetch: 2, closeWaitMs: 100 },
    });
    const skew = spec.maxClockSkewMs ?? 20;
    this.startNode = (id) => {
      const base = this.base;
      const clock = { offsetMs: 0, now: () => base.now() + clock.offsetMs, setTimeout: base.setTimeout.bind(base), clearTimeout: base.clearTimeout.bind(base) };
      const bus = this.network.connect(id);
      const membership = new Membership(bus, clock, { nodeId: id, cluster: 'w', heartbeatMs, deadAfterMs: 5 * heartbeatMs });
      const singleton = new Singleton(bus, clock, membership, { nodeId: id, cluster: 'w', ...timings, voters: spec.voters ?? spec.nodes, maxClockSkewMs: skew, partChars: spec.partChars, longestWindowMs: () => spec.windowMs,
        booksFile: spec.booksDir && `${spec.booksDir}/${id}.books.jsonl` });
      const server = new StrictServer(bus, clock, singleton, { cluster: 'w', maxClockSkewMs: skew });
      const enforcer = new StrictEnforcer(limit, 't', { nodeId: id, clusterName: 'w', clock, bus, singleton, maxClockSkewMs: skew });
      const node: WorldNode = { id, clock, bus, membership, singleton, server, enforcer, crashed: false, pending: new Set() };
      const life = ++this.lives;
      server.onGranted = (_to, _units, term) => this.grants.push({ at: base.now(), holder: id, term, life });
      membership.start();
      singleton.start();
      server.start();
      return node;
    };
    this.nodes = spec.nodes.map(this.startNode);
  }

  private readonly startNode: (id: string) => WorldNode;

  /** Crashes `id` (if it is up) and starts it again with nothing remembered, as a new process. */
  restart(id: string): WorldNode {
    const i = this.nodes.findIndex((n) => n.id === id);
    if (!this.nodes[i]!.crashed) this.crash(id);
    const fresh = this.startNode(id);
    this.nodes[i] = fresh;
    return fresh;
  }

  node(id: string): WorldNode { return this.nodes.find((n) => n.id === id)!; }

  /** The nodes holding right now (by their own view). */
  holders(): string[] { return this.nodes.filter((n) => !n.crashed && n.singleton.session()).map((n) => n.id); }

  /** Offers load from the next true window start for `windows` windows. */
  startLoad(windows: number): number {
    const W = this.spec.windowMs;
    const first = Math.floor(this.base.now() / W) + 1;
    this.loadUntil = (first + windows) * W;
    for (let w = first; w < first + windows; w++) this.base.setTimeout(() => this.loadWindow(w), w * W - this.base.now());
    return first;
  }

  private loadWindow(w: number): void {
    const W = this.spec.windowMs;
    const start = w * W;
    for (const n of this.nodes) {
      const at: number[] = [];
      const count = Math.round((this.spec.rate * W) / 1000);
      for (let k = 0; k < count; k++) at.push(start + Math.floor(((k + this.random()) * W) / count));
      for (let k = 0; k < (this.spec.edgeRequests ?? 2); k++) {
        at.push(start + Math.floor(this.random() * 100), start + W - 100 + Math.floor(this.random() * 100));
      }
      for (const t of at) this.base.setTimeout(() => this.arrive(n), Math.max(0, t - this.base.now()));
      for (let c = 0; c < (this.spec.clientKeys ?? 0); c++) {
        this.base.setTimeout(() => this.arrive(n, `c${c}`), Math.max(0, start + 100 + Math.floor(this.random() * (W / 2)) - this.base.now()));
      }
    }
  }

  /** One request at node `id` now (outside the steady load of startLoad). */
  request(id: string): void { this.arrive(this.node(id)); }

  private arrive(n: WorldNode, key = 'k'): void {
    if (n.crashed) return;
    const id = this.nextReq++;
    this.answers.set(id, 0);
    const answered = (allowed: boolean) => {
      this.answers.set(id, this.answers.get(id)! + 1);
      n.pending.delete(id);
      if (!allowed) return;
      // The call travels to the upstream; the sink counts it by the true window it lands in.
      this.base.setTimeout(() => {
        const w = Math.floor(this.base.now() / this.spec.windowMs);
        if (key === 'k') this.upstream.set(w, (this.upstream.get(w) ?? 0) + 1);
        else this.keyCalls.set(`${key}#${w}`, (this.keyCalls.get(`${key}#${w}`) ?? 0) + 1);
      }, Math.floor(this.random() * (UPSTREAM_TRAVEL_MS + 1)));
    };
    n.pending.add(id);
    const d = n.enforcer.admit(key, 1, n.clock.now());
    if (d instanceof Promise) d.then((x) => answered(x.allowed), () => answered(false));
    else answered(d.allowed);
  }

  crash(id: string): void {
    const n = this.node(id);
    n.crashed = true;
    for (const r of n.pending) this.lostWithNode.add(r);
    void n.bus.close();
    n.server.stop();
    n.singleton.stop();
    n.membership.stop();
  }

  /** Runs `ms` of true time, jumping from timer to timer; `each` is called after every step. */
  async run(ms: number, each?: () => void): Promise<void> {
    const until = this.base.now() + ms;
    for (;;) {
      const next = this.base.nextAt();
      if (next === undefined || next > until) break;
      this.base.advanceTo(next);
      await drain();
      each?.();
    }
    this.base.advanceTo(until);
    await drain();
  }

  /** Runs until `ok()` holds, at most `ms`; returns the true time it took. */
  async runUntil(ok: () => boolean, ms: number): Promise<number> {
    const from = this.base.now();
    let done = false;
    while (!done && this.base.now() - from < ms) {
      const next = this.base.nextAt();
      this.base.advanceTo(next === undefined ? from + ms : Math.min(next, from + ms));
      await drain();
      done = ok();
    }
    assert.ok(done, `not reached within ${ms} ms`);
    return this.base.now() - from;
  }

  /** Checks what every strict test must: no true window over the limit at the upstream, one answer per request, one granter at a time. */
  checkInvariants(label: string): void {
    for (const [w, calls] of this.upstream) assert.ok(calls <= this.spec.limit, `${label}: window ${w} saw ${calls} upstream calls > ${this.spec.limit}`);
    for (const [kw, calls] of this.keyCalls) assert.ok(calls <= this.spec.limit, `${label}: ${kw} saw ${calls} upstream calls > ${this.spec.limit}`);
    for (const [id, n] of this.answers) {
      if (this.lostWithNode.has(id) && n === 0) continue;
      assert.is(n, 1, `${label}: request ${id} got ${n} answers`);
    }
    // At most one node grants at any instant: each holding's grants lie in one interval, and no two overlap.
    const spans = new Map<string, { from: number; to: number }>();
    for (const g of this.grants) {
      const k = `${g.holder}#${g.term} (life ${g.life})`;
      const s = spans.get(k);
      if (s) s.to = g.at;
      else spans.set(k, { from: g.at, to: g.at });
    }
    const sorted = [...spans.entries()].sort((a, b) => a[1].from - b[1].from);
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(sorted[i]![1].from > sorted[i - 1]![1].to, `${label}: ${sorted[i]![0]} granted at ${sorted[i]![1].from - T0} while ${sorted[i - 1]![0]} still granted until ${sorted[i - 1]![1].to - T0}`);
    }
  }

  /** Calls the upstream received in true window `w`. */
  calls(w: number): number { return this.upstream.get(w) ?? 0; }

  get loadEndsAt(): number { return this.loadUntil; }

  /** Closes every node; the clock keeps running meanwhile, so a close waiting on an answer ends. */
  async stop(): Promise<void> {
    const live = this.nodes.filter((n) => !n.crashed);
    const closed = Promise.all(live.map((n) => n.enforcer.close()));
    let done = false;
    void closed.then(() => { done = true; });
    for (let i = 0; i < 2_000 && !done; i++) { this.base.advance(1); await drain(); }
    for (const n of live) { n.server.stop(); n.singleton.stop(); n.membership.stop(); }
    await drain();
  }
}
