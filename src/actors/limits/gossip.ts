// The one gossip loop of a node for every approximate limit it holds. Each `cluster.syncMs` it takes
// every limiter's delta and publishes them together as ONE message on `sluice.<cluster>.limits.gossip`
// (not one per request, not one per limit); every `fullStateEveryMs`, when a member joins, and when a
// peer asks, it sends full state instead, which heals any delta lost on the way (anti-entropy).
// A limiter that starts while the cluster is already spending waits (bounded by catchUpMs) for a
// peer's full state before it admits anything, so a node joining mid-window does not count from zero.
// Gossip is best effort: malformed or refused input is dropped and counted, never thrown.
import type { Bus, Json, Subscription } from '../../bus/bus.ts';
import { subjectFor } from '../../bus/bus.ts';
import type { Clock, TimerId } from '../../clock.ts';
import type { MembershipChange } from '../../cluster/member-table.ts';
import { asNodeId, isNodeId, type NodeId } from '../../crdt/node-id.ts';
import { isPlainObject } from '../../crdt/wire.ts';
import { ApproximateLimiter, type ApproximateLimitInput, type ApproximatePayload } from '../../limit/approximate-limiter.ts';

/** Full state goes out this many sync intervals apart even when nothing asks for it. */
export const DEFAULT_FULL_STATE_SYNC_MULTIPLE = 10;
/** A node that has no limits of its own keeps gossiping (to prove it is alive) this long after a limited peer was heard. */
const LIVENESS_SYNC_MULTIPLE = 10;
/**
 * Largest gossip message, in JSON characters. NATS refuses payloads over its max_payload (1 MB by
 * default) and the bus drops such a publish silently, so a large full state (per-client limits with
 * many keys) goes out in parts: counters merge per key, so parts heal as well as a whole.
 */
export const MAX_GOSSIP_CHARS = 256 * 1024;
/** Merges a replaced limiter's state into its successor; never a member, so never counted as a peer. */
const HANDOVER = asNodeId('sluice.handover');

export interface MembershipView {
  liveIds(): string[];
  onChange(fn: (c: MembershipChange) => void): () => void;
}

export interface LimitGossipOptions {
  nodeId: string;
  cluster: string;
  /** Gossip interval, ms (cluster.syncMs). */
  syncMs: number;
  /** Default 10 × syncMs. */
  fullStateEveryMs?: number;
  /**
   * How long a new limiter waits for a peer's full state before it trusts its own counts, ms.
   * 0 (a node alone on its in-process bus) admits at once. Default 5 × syncMs.
   */
  catchUpMs?: number;
  /** [0, 1), for the phase of the first tick so nodes do not all publish at the same instant. */
  random?: () => number;
  membership?: MembershipView;
}

export interface GossipStats {
  /** Messages published. */
  sent: number;
  /** Of those, full-state messages. */
  fullSent: number;
  /** Well-formed messages received from peers. */
  received: number;
  /** Malformed messages, and limit payloads refused (another windowMs, unreadable). */
  dropped: number;
  /** Publishes that threw (bus closed or disconnected). */
  sendFailed: number;
}

/** One limiter held through the gossip actor; `release` when its target closes. */
export interface LimiterLease {
  readonly limiter: ApproximateLimiter;
  readonly id: string;
  /** True once the limiter has caught up with the cluster (or gave up waiting). */
  readonly ready: boolean;
  /** Resolves when ready; rejects with the signal's reason if it aborts first. */
  whenReady(signal?: AbortSignal): Promise<void>;
  release(): void;
}

interface Entry {
  id: string;
  limiter: ApproximateLimiter;
  input: Omit<ApproximateLimitInput, 'nodeId'>;
  holders: number;
  ready: boolean;
  readyWaiters: Array<() => void>;
  catchUpTimer: TimerId | undefined;
}

type Kind = 'delta' | 'full';
interface GossipMessage { node: NodeId; kind: Kind; hello: boolean; limits: Record<string, unknown> }

export class LimitGossip {
  readonly stats: GossipStats = { sent: 0, fullSent: 0, received: 0, dropped: 0, sendFailed: 0 };
  private readonly self: NodeId;
  private readonly entries = new Map<string, Entry>();
  private readonly fullStateEveryMs: number;
  private readonly catchUpMs: number;
  private readonly subject: string;
  private sub: Subscription | undefined;
  private unwatch: (() => void) | undefined;
  private timer: TimerId | undefined;
  private running = false;
  private fullDue = true;
  private lastFullAt = Number.NEGATIVE_INFINITY;
  private limitedPeerHeardAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly o: LimitGossipOptions) {
    this.self = asNodeId(o.nodeId);
    this.fullStateEveryMs = o.fullStateEveryMs ?? DEFAULT_FULL_STATE_SYNC_MULTIPLE * o.syncMs;
    this.catchUpMs = o.catchUpMs ?? 5 * o.syncMs;
    this.subject = subjectFor(o.cluster, 'limits.gossip');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sub = this.bus.subscribe(this.subject, (m) => this.onMessage(m.data));
    this.unwatch = this.o.membership?.onChange((c) => this.onMembership(c));
    this.timer = this.clock.setTimeout(() => this.tick(), Math.floor((this.o.random ?? Math.random)() * this.o.syncMs));
  }

  /** Publishes what is left to tell, then stops. Limiters stay usable (a closing node drains). */
  stop(): void {
    if (!this.running) return;
    this.publish(false);
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.sub?.unsubscribe();
    this.unwatch?.();
    for (const e of this.entries.values()) this.markReady(e);
  }

  /**
   * The limiter for `id` (unique in the cluster: target and limit name). Holders of the same id with
   * the same settings share one limiter, so a target replaced by the admin API keeps its counts; new
   * settings get a new limiter that starts from the old one's counts when the window length agrees.
   */
  acquire(id: string, input: Omit<ApproximateLimitInput, 'nodeId'>): LimiterLease {
    const now = this.clock.now();
    let e = this.entries.get(id);
    if (e && sameSettings(e.input, input)) {
      e.holders++;
    } else {
      const limiter = new ApproximateLimiter({ ...input, nodeId: this.self });
      limiter.setMembers(this.members(), now);
      const prev = e;
      e = { id, limiter, input: { ...input }, holders: 1, ready: false, readyWaiters: [], catchUpTimer: undefined };
      if (prev) {
        // The predecessor's counts include this node's own spend this window; without them the new
        // limiter would restart this node's entries from zero and its next deltas would be ignored.
        limiter.mergeRemote(HANDOVER, prev.limiter.fullState(now), now);
        e.ready = prev.ready;
      }
      if (!e.ready && (this.catchUpMs <= 0 || !this.running)) e.ready = true;
      if (!e.ready) {
        const entry = e;
        entry.catchUpTimer = this.clock.setTimeout(() => this.markReady(entry), this.catchUpMs);
      }
      this.entries.set(id, e);
    }
    return this.lease(e);
  }

  /** Limiters held, by id (for metrics and tests). */
  limiters(): ReadonlyMap<string, ApproximateLimiter> {
    return new Map([...this.entries].map(([id, e]) => [id, e.limiter]));
  }

  private lease(e: Entry): LimiterLease {
    let released = false;
    return {
      limiter: e.limiter,
      id: e.id,
      get ready() { return e.ready; },
      whenReady: (signal) => this.whenReady(e, signal),
      release: () => {
        if (released) return;
        released = true;
        if (--e.holders > 0 || this.entries.get(e.id) !== e) return;
        // Tell the peers this node's last counts before forgetting them.
        if (this.running) this.publishOne(e);
        this.clock.clearTimeout(e.catchUpTimer);
        this.markReady(e);
        this.entries.delete(e.id);
      },
    };
  }

  private whenReady(e: Entry, signal?: AbortSignal): Promise<void> {
    if (e.ready) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      e.readyWaiters.push(() => { signal?.removeEventListener('abort', onAbort); resolve(); });
    });
  }

  private markReady(e: Entry): void {
    if (e.ready) return;
    e.ready = true;
    this.clock.clearTimeout(e.catchUpTimer);
    for (const w of e.readyWaiters.splice(0)) w();
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    const full = this.fullDue || now - this.lastFullAt >= this.fullStateEveryMs;
    const needed = this.entries.size > 0 || now - this.limitedPeerHeardAt <= LIVENESS_SYNC_MULTIPLE * this.o.syncMs;
    if (needed) this.publish(full);
    this.timer = this.clock.setTimeout(() => this.tick(), this.o.syncMs);
  }

  private publish(full: boolean): void {
    const now = this.clock.now();
    const limits: Record<string, ApproximatePayload> = {};
    let hello = false;
    for (const [id, e] of this.entries) {
      const delta = e.limiter.takeDelta(now);
      limits[id] = full ? e.limiter.fullState(now) : delta;
      if (!e.ready) hello = true;
    }
    if (full) {
      this.fullDue = false;
      this.lastFullAt = now;
    }
    for (const part of splitLimits(limits, MAX_GOSSIP_CHARS)) this.send({ node: this.self, kind: full ? 'full' : 'delta', hello, limits: part });
  }

  private publishOne(e: Entry): void {
    this.send({ node: this.self, kind: 'delta', hello: false, limits: { [e.id]: e.limiter.takeDelta(this.clock.now()) } });
  }

  private send(m: GossipMessage): void {
    try {
      this.bus.publish(this.subject, m as unknown as Json);
      this.stats.sent++;
      if (m.kind === 'full') this.stats.fullSent++;
    } catch {
      this.stats.sendFailed++;
    }
  }

  private onMessage(data: Json): void {
    const m = parseMessage(data);
    if (!m) {
      this.stats.dropped++;
      return;
    }
    if (m.node === this.self) return; // our own publish, echoed
    this.stats.received++;
    const now = this.clock.now();
    if (m.hello) this.fullDue = true;
    const ids = Object.keys(m.limits);
    if (ids.length > 0) this.limitedPeerHeardAt = now;
    for (const e of this.entries.values()) {
      // A peer without this limit spends nothing on it; hearing from it at all proves it alive.
      const payload = Object.hasOwn(m.limits, e.id) ? m.limits[e.id] : emptyPayloadOf(e.limiter);
      const r = e.limiter.mergeRemote(m.node, payload, now);
      if (!r.accepted) this.stats.dropped++;
      else if (m.kind === 'full' && Object.hasOwn(m.limits, e.id)) this.markReady(e);
    }
  }

  private onMembership(c: MembershipChange): void {
    const now = this.clock.now();
    if (c.type === 'member.joined') this.fullDue = true;
    for (const e of this.entries.values()) {
      if (c.type === 'member.left' && c.reason === 'goodbye' && isNodeId(c.id)) e.limiter.peerLeft(c.id, now);
      else e.limiter.setMembers(this.members(), now);
    }
  }

  private members(): NodeId[] {
    return (this.o.membership?.liveIds() ?? []).filter(isNodeId);
  }
}

/**
 * Packs per-limit payloads into as few messages as fit `maxChars` (usually one). A payload too large
 * for a message on its own is cut into parts by key.
 */
export function splitLimits(limits: Record<string, ApproximatePayload>, maxChars: number): Array<Record<string, ApproximatePayload>> {
  const parts: Array<Record<string, ApproximatePayload>> = [];
  let current: Record<string, ApproximatePayload> = {};
  let size = 0;
  const push = (id: string, p: ApproximatePayload, chars: number) => {
    if (size > 0 && size + chars > maxChars) {
      parts.push(current);
      current = {};
      size = 0;
    }
    current[id] = p;
    size += chars;
  };
  for (const [id, payload] of Object.entries(limits)) {
    const chars = id.length + JSON.stringify(payload).length;
    if (chars <= maxChars) push(id, payload, chars);
    else for (const piece of splitPayload(payload, maxChars)) push(id, piece, id.length + JSON.stringify(piece).length);
  }
  if (size > 0 || parts.length === 0) parts.push(current);
  return parts;
}

function splitPayload(p: ApproximatePayload, maxChars: number): ApproximatePayload[] {
  const out: ApproximatePayload[] = [];
  let windows: ApproximatePayload['windows'] = {};
  let size = 0;
  for (const [windowId, keys] of Object.entries(p.windows)) {
    for (const [key, counter] of Object.entries(keys)) {
      const chars = key.length + JSON.stringify(counter).length + 8;
      if (size > 0 && size + chars > maxChars) {
        out.push({ ...p, windows });
        windows = {};
        size = 0;
      }
      // Keys are limit keys (`target`, `ip:…`, `h:…`), never `__proto__`.
      (windows[windowId] ??= {})[key] = counter;
      size += chars;
    }
  }
  if (size > 0) out.push({ ...p, windows });
  return out;
}

function sameSettings(a: Omit<ApproximateLimitInput, 'nodeId'>, b: Omit<ApproximateLimitInput, 'nodeId'>): boolean {
  return a.name === b.name && a.limit === b.limit && a.windowMs === b.windowMs && a.staleMs === b.staleMs
    && (a.degraded ?? 'safe-share') === (b.degraded ?? 'safe-share') && (a.enforce ?? true) === (b.enforce ?? true);
}

function emptyPayloadOf(l: ApproximateLimiter): ApproximatePayload {
  return { limit: l.name, windowMs: l.windowMs, windows: {} };
}

function parseMessage(d: Json): GossipMessage | undefined {
  if (!isPlainObject(d)) return undefined;
  const { node, kind, hello, limits } = d as Record<string, unknown>;
  if (!isNodeId(node) || (kind !== 'delta' && kind !== 'full') || !isPlainObject(limits)) return undefined;
  return { node, kind, hello: hello === true, limits };
}
