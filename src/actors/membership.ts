// Membership over the bus: each node heartbeats on `sluice.<cluster>.members.heartbeat` every
// heartbeatMs, says goodbye on a graceful stop, and keeps the live node set from what it hears.
// Heartbeats are full state, so a lost one is healed by the next; malformed ones are dropped and counted.
import type { Bus, Json, Subscription } from '../bus/bus.ts';
import { subjectFor } from '../bus/bus.ts';
import type { Clock, TimerId } from '../clock.ts';
import { MemberTable, type MembershipChange } from '../cluster/member-table.ts';

export interface MembershipOptions {
  nodeId: string;
  cluster: string;
  heartbeatMs: number;
  deadAfterMs: number;
  url?: string;
}

interface Heartbeat { node: string; startedAt: number; url?: string }

function parseHeartbeat(d: Json): Heartbeat | undefined {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
  const { node, startedAt, url } = d as Record<string, Json>;
  if (typeof node !== 'string' || node.length === 0 || node.length > 128) return undefined;
  if (typeof startedAt !== 'number' || !Number.isFinite(startedAt)) return undefined;
  if (url !== undefined && typeof url !== 'string') return undefined;
  return url ? { node, startedAt, url } : { node, startedAt };
}

export class Membership {
  readonly table: MemberTable;
  readonly startedAt: number;
  malformed = 0;
  private readonly subs: Subscription[] = [];
  private timer: TimerId | undefined;
  private readonly listeners = new Set<(c: MembershipChange) => void>();
  private running = false;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly o: MembershipOptions) {
    this.table = new MemberTable(o.nodeId, o.deadAfterMs);
    this.startedAt = clock.now();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.subs.push(this.bus.subscribe(this.subject('heartbeat'), (m) => this.onHeartbeat(m.data)));
    this.subs.push(this.bus.subscribe(this.subject('goodbye'), (m) => this.onGoodbye(m.data)));
    this.tick();
  }

  /** Live node ids including this one, sorted. */
  liveIds(): string[] { return this.table.liveIds(); }

  onChange(fn: (c: MembershipChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.bus.publish(this.subject('goodbye'), this.self());
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }

  private tick(): void {
    if (!this.running) return;
    this.bus.publish(this.subject('heartbeat'), this.self());
    for (const c of this.table.expire(this.clock.now())) this.emit(c);
    this.timer = this.clock.setTimeout(() => this.tick(), this.o.heartbeatMs);
  }

  private onHeartbeat(d: Json): void {
    const hb = parseHeartbeat(d);
    if (!hb) { this.malformed++; return; }
    const c = this.table.heartbeat(hb.node, hb.startedAt, this.clock.now(), hb.url);
    if (c) this.emit(c);
  }

  private onGoodbye(d: Json): void {
    const hb = parseHeartbeat(d);
    if (!hb) { this.malformed++; return; }
    const c = this.table.goodbye(hb.node, hb.startedAt);
    if (c) this.emit(c);
  }

  private self(): Json {
    return { node: this.o.nodeId, startedAt: this.startedAt, ...(this.o.url ? { url: this.o.url } : {}) };
  }

  private subject(topic: string): string { return subjectFor(this.o.cluster, `members.${topic}`); }

  private emit(c: MembershipChange): void { for (const fn of this.listeners) fn(c); }
}
