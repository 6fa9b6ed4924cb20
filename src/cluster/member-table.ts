// Who is in the cluster, from heartbeats alone: a node is live from its first heartbeat until it says
// goodbye or stays silent for `deadAfterMs`. Pure: every method takes `now`; the membership actor feeds
// it bus messages and ticks.

export interface MemberInfo {
  readonly id: string;
  /** When the node started; a restarted node has a new one, so a stale heartbeat of its old life is ignored. */
  readonly startedAt: number;
  /** Local time the last heartbeat arrived. */
  readonly lastSeenAt: number;
  /** Its HTTP address, for operators. */
  readonly url?: string | undefined;
}

export type MembershipChange =
  | { type: 'member.joined'; id: string }
  /** `silentMs`: for a silent member, how long since its last heartbeat when it was dropped. */
  | { type: 'member.left'; id: string; reason: 'goodbye' | 'silent'; silentMs?: number };

type Entry = { -readonly [K in keyof MemberInfo]: MemberInfo[K] };

export class MemberTable {
  /** Entries are updated in place (a 50-node cluster hears 500 heartbeats a second); `peers()` hands out copies. */
  private readonly members = new Map<string, Entry>();
  /** liveIds() sorted, kept until a node joins or leaves. */
  private sortedIds: string[] | undefined;

  constructor(readonly selfId: string, private readonly deadAfterMs: number) {}

  /** Records a heartbeat; returns a join when the node was not known. */
  heartbeat(id: string, startedAt: number, now: number, url?: string): MembershipChange | undefined {
    if (id === this.selfId) return undefined;
    const known = this.members.get(id);
    if (known && startedAt < known.startedAt) return undefined; // an older life of a restarted node
    if (known) {
      known.startedAt = startedAt;
      known.lastSeenAt = now;
      known.url = url;
      return undefined;
    }
    this.members.set(id, { id, startedAt, lastSeenAt: now, url });
    this.sortedIds = undefined;
    return { type: 'member.joined', id };
  }

  goodbye(id: string, startedAt: number): MembershipChange | undefined {
    const known = this.members.get(id);
    if (!known || startedAt < known.startedAt) return undefined;
    this.members.delete(id);
    this.sortedIds = undefined;
    return { type: 'member.left', id, reason: 'goodbye' };
  }

  /** Drops members silent for longer than deadAfterMs. */
  expire(now: number): MembershipChange[] {
    const out: MembershipChange[] = [];
    for (const m of this.members.values()) {
      if (now - m.lastSeenAt > this.deadAfterMs) {
        this.members.delete(m.id);
        this.sortedIds = undefined;
        out.push({ type: 'member.left', id: m.id, reason: 'silent', silentMs: now - m.lastSeenAt });
      }
    }
    return out;
  }

  /** Live node ids including this node, sorted: every node computes the same list from the same view. */
  liveIds(): string[] {
    this.sortedIds ??= [this.selfId, ...this.members.keys()].sort();
    return this.sortedIds.slice();
  }

  peers(): MemberInfo[] { return [...this.members.values()].map((m) => ({ ...m })); }

  get size(): number { return this.members.size + 1; }
}
