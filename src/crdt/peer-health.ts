// Whether this replica can see the whole cluster: which peers' gossip has gone stale, and how many
// nodes the cluster holds. A limiter that cannot see everyone applies its degraded policy.
// Pure: membership and received gossip are reported in, with `now`.
import type { NodeId } from './node-id.ts';

export interface ClusterHealth {
  degraded: boolean;
  /** The cluster size to divide a limit by (safe-share). */
  clusterSize: number;
  /** Members not heard from within `staleMs`. */
  stalePeers: NodeId[];
}

export class PeerHealth {
  /** Peers the membership says are live, with when each was first listed (a newcomer's grace period). */
  private members = new Map<NodeId, number>();
  private readonly lastHeardAt = new Map<NodeId, number>();
  /**
   * It grows as soon as membership lists more nodes, but shrinks only when every member is fresh and
   * they make a majority of it (or a peer leaves gracefully): a node cut off from most of the
   * cluster cannot tell a partition from crashes, so it keeps dividing by the old size.
   */
  private clusterSize = 1;

  constructor(readonly self: NodeId, readonly staleMs: number) {}

  /** The live node set from membership (self may be included; it is ignored). Replaces the last one. */
  setMembers(members: Iterable<NodeId>, now: number): void {
    const next = new Map<NodeId, number>();
    for (const m of members) if (m !== this.self) next.set(m, this.members.get(m) ?? now);
    // Forget nodes gone from membership, so ids of restarted nodes do not pile up.
    for (const node of this.lastHeardAt.keys()) if (!next.has(node)) this.lastHeardAt.delete(node);
    this.members = next;
    this.clusterSize = Math.max(this.clusterSize, 1 + next.size);
  }

  /** A peer announced it is leaving: the cluster is smaller now, not partitioned. */
  peerLeft(node: NodeId): void {
    if (node === this.self) return;
    this.members.delete(node);
    this.lastHeardAt.delete(node);
    this.clusterSize = Math.max(1 + this.members.size, this.clusterSize - 1);
  }

  /** Any well-formed gossip from `node` proves it is alive and sharing its counts. */
  heard(node: NodeId, now: number): void {
    if (node !== this.self) this.lastHeardAt.set(node, now);
  }

  heardAt(node: NodeId): number | undefined {
    return this.lastHeardAt.get(node);
  }

  /**
   * Degraded while any member is stale (no message within `staleMs` of its last one, or of being
   * listed), or while the visible nodes are no majority of the remembered cluster size (a node that
   * sees no peers at all, after it had some, is the extreme case). When healthy, the remembered
   * size becomes the visible one: this is where it shrinks after a crash.
   */
  check(now: number): ClusterHealth {
    const stalePeers: NodeId[] = [];
    for (const [peer, listedAt] of this.members) {
      if (now - Math.max(listedAt, this.lastHeardAt.get(peer) ?? listedAt) > this.staleMs) stalePeers.push(peer);
    }
    const visible = 1 + this.members.size;
    const degraded = stalePeers.length > 0 || 2 * visible <= this.clusterSize;
    if (!degraded) this.clusterSize = visible;
    return { degraded, clusterSize: this.clusterSize, stalePeers };
  }
}
