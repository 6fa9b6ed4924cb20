// Fleet scope (`batch.scope: "cluster"`) on one node: which node makes a key's call, and the hop to
// it. A key's owner is chosen by rendezvous hashing over the live members (src/cluster/rendezvous.ts)
// less those this node found silent lately (suspects, for `suspectMs`), so a dead owner costs one
// timeout here, not one per request until membership notices. Only idempotent flights of hot keys
// are forwarded (docs/batching.md, Fleet scope); everything else is called here as in node scope.
import type { Bus } from '../../bus/bus.ts';
import type { Clock } from '../../clock.ts';
import { HotKeys } from '../../cluster/hot-keys.ts';
import { ownerOf, ownerRing, type OwnerRing } from '../../cluster/rendezvous.ts';
import type { HeaderMap } from '../../proxy/headers.ts';
import { ForwardClient, type ForwardRequest } from './forward-client.ts';
import { emptyCounts, FleetMetrics, ForwardOutcome, type FleetCounts } from './fleet-metrics.ts';
import { ForwardServer, type ForwardServerHandlers } from './forward-server.ts';
import type { Readable } from 'node:stream';

export interface MemberView {
  liveIds(): string[];
  onChange(fn: () => void): () => void;
}

export interface FleetScopeOptions {
  nodeId: string;
  cluster: string;
  /** Default silence bound of a forward (each forward may carry its own): the owner's ack, then between its words. */
  timeoutMs: number;
  /** Interval of this node's `alive` messages as an owner (default 50 ms). */
  aliveMs?: number;
  /** How long an owner that went silent is left out of ownership here. */
  suspectMs: number;
  /** Largest body a forward may carry either way (the largest `maxBodyBytes` of the node's targets). */
  maxBodyBytes: number;
  chunkBytes?: number;
}

/** Hot: seen twice, each within 10 s of the one before (see hot-keys.ts). */
export const HOT_KEYS = { threshold: 2, windowMs: 10_000, capacity: 100_000 } as const;

export type OwnerEntry = Pick<ForwardServerHandlers, 'accepts' | 'serve'>;

export interface OwnerReply { status: number; headers: HeaderMap; body: Readable }

export class FleetScope {
  readonly client: ForwardClient;
  readonly server: ForwardServer;
  private ring: OwnerRing | undefined;
  private readonly suspects = new Map<string, number>();
  private readonly hot: HotKeys;
  private readonly counts = new Map<string, FleetCounts>();
  private entry: OwnerEntry | undefined;
  private unlisten: (() => void) | undefined;

  constructor(bus: Bus, private readonly clock: Clock, private readonly members: MemberView, private readonly o: FleetScopeOptions, private readonly metrics?: FleetMetrics) {
    const malformed = (): void => metrics?.malformed.inc();
    this.hot = new HotKeys(HOT_KEYS);
    this.client = new ForwardClient(bus, clock, o, { malformed });
    this.server = new ForwardServer(bus, clock, o, {
      accepts: (t) => this.entry?.accepts(t) ?? false,
      serve: (req, res, gone) => {
        this.countsOf(req.target).forwardsServed++;
        this.metrics?.served.inc({ target: req.target });
        this.entry!.serve(req, res, gone);
      },
      served: (target, _status, headers) => {
        // Shared with other clients (X-Sluice-Batch size ≥ 2): without the forward, this node's flight would have been a call.
        const size = /size=(\d+)/.exec(String(headers['x-sluice-batch'] ?? ''));
        if (size && Number(size[1]) >= 2) { this.countsOf(target).callsSaved++; this.metrics?.saved.inc({ target }); }
      },
      malformed,
    });
  }

  /** Where forwarded flights are answered: the node's normal entry of each target. */
  serveWith(entry: OwnerEntry): void { this.entry = entry; }

  start(): void {
    this.unlisten ??= this.members.onChange(() => { this.ring = undefined; });
    this.client.start();
    this.server.start();
  }

  stop(): void {
    this.unlisten?.();
    this.unlisten = undefined;
    this.server.stop();
    this.client.stop();
  }

  /** The owner of `key` among the live members this node trusts now. */
  ownerOf(key: string): string {
    this.expireSuspects();
    this.ring ??= ownerRing(this.members.liveIds().filter((id) => id === this.o.nodeId || !this.suspects.has(id)));
    return ownerOf(this.ring, key) ?? this.o.nodeId;
  }

  /**
   * The node to forward this flight to, or undefined to make the call here: the owner is this node,
   * the request is not idempotent (a lost owner could not be retried safely), or the key is cold.
   */
  route(target: string, key: string, idempotent: boolean): string | undefined {
    if (!idempotent) return undefined;
    const hot = this.hot.touch(key, this.clock.now());
    const owner = this.ownerOf(key);
    if (owner === this.o.nodeId) return undefined;
    if (!hot) { this.countsOf(target).coldLocal++; this.metrics?.coldLocal.inc({ target }); return undefined; }
    return owner;
  }

  /**
   * The owner's answer to `req`, or — when it refuses, is silent or goes silent before the head —
   * `local()`, with the owner left out of ownership here for suspectMs. After the head a silent owner
   * fails the body stream instead (counted as cut).
   */
  async call<R>(owner: string, req: ForwardRequest, signal: AbortSignal | undefined, local: () => Promise<R>, asResult: (reply: OwnerReply, tookMs: number) => R): Promise<R> {
    const counts = this.countsOf(req.target);
    counts.forwardsSent++;
    const sentAt = this.clock.now();
    const r = await this.client.forward(owner, req, signal);
    if (r.kind === 'reply') {
      const target = req.target;
      r.body.once('end', () => { counts.forwardsReplied++; this.metrics?.sent.inc({ target, outcome: ForwardOutcome.Replied }); });
      r.body.once('error', () => { counts.forwardsCut++; this.metrics?.sent.inc({ target, outcome: ForwardOutcome.Cut }); });
      return asResult(r, this.clock.now() - sentAt); // the access line's upstreamMs: to the owner's head
    }
    if (r.reason === 'cancelled') throw signal?.reason ?? new Error('forward cancelled');
    this.suspect(owner);
    counts.ownerFallbacks[r.reason] = (counts.ownerFallbacks[r.reason] ?? 0) + 1;
    this.metrics?.fallbacks.inc({ target: req.target, reason: r.reason });
    this.metrics?.sent.inc({ target: req.target, outcome: ForwardOutcome.Fallback });
    return local();
  }

  describe(target: string): Record<string, unknown> {
    return { scope: 'cluster', ...this.countsOf(target), suspects: [...this.suspects.keys()] };
  }

  private suspect(owner: string): void {
    if (owner === this.o.nodeId) return;
    this.suspects.set(owner, this.clock.now() + this.o.suspectMs);
    this.ring = undefined;
  }

  private expireSuspects(): void {
    if (this.suspects.size === 0) return;
    const now = this.clock.now();
    for (const [id, until] of this.suspects) if (until <= now) { this.suspects.delete(id); this.ring = undefined; }
  }

  private countsOf(target: string): FleetCounts {
    let c = this.counts.get(target);
    if (!c) { c = emptyCounts(); this.counts.set(target, c); }
    return c;
  }
}
