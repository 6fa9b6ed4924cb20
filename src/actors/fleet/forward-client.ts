// The requester's side of fleet forwarding: hands one flight to the key's owner and turns what the
// owner streams back into an upstream-like reply (status, headers, a body stream). It never waits
// on a silent owner for long: no ack within `timeoutMs` (crash, pause, partition, bus down), or no
// word about a forward for `timeoutMs` after the ack (the owner lists what it still holds in an
// `alive` message every 50 ms), and the forward is over. Before the head, that is an
// `unavailable` result the caller turns into a local call; after it, the body stream fails (the
// head is already written, so a cut is the only honest signal left; docs/batching.md, Fleet scope).
import { Readable } from 'node:stream';
import type { Bus, Json, Subscription } from '../../bus/bus.ts';
import type { Clock, TimerId } from '../../clock.ts';
import { NoRespondersError, BusTimeoutError, UpstreamUnavailableError } from '../../errors.ts';
import type { HeaderMap } from '../../proxy/headers.ts';
import {
  chunk, DEFAULT_CHUNK_BYTES, ownerSubject, parseAck, parseToRequester, replySubject, wire,
  type BodyMsg, type ForwardedCall, type HeadMsg, type OpenMsg,
} from './forward-protocol.ts';

export interface ForwardRequest extends ForwardedCall {
  /** This forward's silence bound (the target's `batch.forwardTimeoutMs`). */
  timeoutMs?: number | undefined;
}

export type Unavailable = 'no-responders' | 'timeout' | 'nack' | 'closed' | 'lost' | 'cancelled';

export type ForwardResult =
  | { kind: 'reply'; status: number; headers: HeaderMap; body: Readable }
  | { kind: 'unavailable'; reason: Unavailable };

export interface ForwardClientOptions {
  nodeId: string;
  cluster: string;
  /** How long an owner may stay silent (for the ack, and between words about a held forward), unless a forward says. */
  timeoutMs: number;
  chunkBytes?: number;
}

export interface ForwardClientHooks {
  /** A reply message that did not parse, or answered a forward not held here. */
  malformed?(): void;
  /** The owner went silent after the head: the body was cut. */
  cut?(): void;
}

interface Pending {
  readonly id: string;
  readonly owner: string;
  readonly timeoutMs: number;
  state: 'ack' | 'head' | 'body';
  heardAt: number;
  nextSeq: number;
  timer: TimerId | undefined;
  body: Readable | undefined;
  resolve: (r: ForwardResult) => void;
  unlisten: () => void;
}

export class ForwardClient {
  private readonly pending = new Map<string, Pending>();
  private sub: Subscription | undefined;
  private seq = 0;
  private readonly chunkBytes: number;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly o: ForwardClientOptions, private readonly hooks: ForwardClientHooks = {}) {
    this.chunkBytes = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  /** Subscribes once, at start: a subscription made per forward might not reach every server in time. */
  start(): void {
    this.sub ??= this.bus.subscribe(replySubject(this.o.cluster, this.o.nodeId), (m) => this.onMessage(m.data));
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    for (const p of [...this.pending.values()]) this.lose(p, 'closed');
  }

  get inFlight(): number { return this.pending.size; }

  forward(owner: string, req: ForwardRequest, signal?: AbortSignal): Promise<ForwardResult> {
    if (signal?.aborted) return Promise.resolve({ kind: 'unavailable', reason: 'cancelled' });
    return new Promise<ForwardResult>((resolve) => {
      const id = String(++this.seq);
      const onAbort = (): void => this.cancel(p);
      signal?.addEventListener('abort', onAbort, { once: true });
      const p: Pending = {
        id, owner, timeoutMs: req.timeoutMs ?? this.o.timeoutMs, state: 'ack', heardAt: this.clock.now(), nextSeq: 1, timer: undefined, body: undefined, resolve,
        unlisten: () => signal?.removeEventListener('abort', onAbort),
      };
      this.pending.set(id, p);
      const parts = chunk(req.body, this.chunkBytes);
      const open: OpenMsg = {
        t: 'open', id, from: this.o.nodeId, target: req.target, method: req.method, path: req.path, query: req.query,
        headers: req.headers, ip: req.ip, tls: req.tls, size: req.body?.length ?? 0, body: parts[0]!, parts: parts.length - 1, clients: req.clients,
      };
      const subject = ownerSubject(this.o.cluster, owner);
      let asked: Promise<Json>;
      try {
        asked = this.bus.request(subject, wire(open), p.timeoutMs);
      } catch {
        asked = Promise.reject(new Error('bus'));
      }
      asked.then((d) => {
        if (this.pending.get(id) !== p) return;
        const ack = parseAck(d);
        if (!ack) { this.hooks.malformed?.(); this.lose(p, 'nack'); return; }
        if (ack.t === 'nack') { this.lose(p, 'nack'); return; }
        if (p.state === 'ack') p.state = 'head';
        this.heard(p);
        for (let seq = 1; seq < parts.length; seq++) {
          this.bus.publish(subject, wire({ t: 'part', id, from: this.o.nodeId, seq, data: parts[seq]! }));
        }
        this.arm(p);
      }, (err: unknown) => {
        if (this.pending.get(id) !== p) return;
        this.lose(p, err instanceof NoRespondersError ? 'no-responders' : err instanceof BusTimeoutError ? 'timeout' : 'closed');
      });
    });
  }

  private onMessage(d: Json): void {
    const m = parseToRequester(d);
    if (!m) { this.hooks.malformed?.(); return; }
    const now = this.clock.now();
    if (m.t === 'alive') {
      for (const id of m.ids) {
        const p = this.pending.get(id);
        if (p && p.owner === m.from) p.heardAt = now;
      }
      return;
    }
    const p = this.pending.get(m.id);
    if (!p || p.owner !== m.from) { this.hooks.malformed?.(); return; } // late, after a fallback: harmless
    p.heardAt = now;
    if (m.t === 'head') this.onHead(p, m);
    else if (m.t === 'body') this.onBody(p, m);
    else this.lose(p, 'lost');
  }

  private onHead(p: Pending, m: HeadMsg): void {
    if (p.state === 'body') return; // a duplicate
    p.state = 'body';
    if (p.timer === undefined) this.arm(p); // the head overtook the ack
    const body = new Readable({ read() {} });
    p.body = body;
    // The reader destroying the body (every waiter left) is a cancel.
    body.once('close', () => { if (this.pending.get(p.id) === p) this.cancel(p); });
    if (m.data.length > 0) body.push(Buffer.from(m.data, 'base64'));
    if (m.end) this.complete(p);
    p.resolve({ kind: 'reply', status: m.status, headers: m.headers, body });
  }

  private onBody(p: Pending, m: BodyMsg): void {
    if (p.state !== 'body' || m.seq < p.nextSeq) return; // a duplicate
    if (m.seq > p.nextSeq) { this.lose(p, 'lost'); return; } // a chunk went missing: the body cannot be whole
    p.nextSeq++;
    if (m.data.length > 0) p.body!.push(Buffer.from(m.data, 'base64'));
    if (m.end) this.complete(p);
  }

  private complete(p: Pending): void {
    this.forget(p);
    p.body!.push(null);
  }

  /** Checks, every timeoutMs, that the owner spoke of this forward within the last timeoutMs. */
  private arm(p: Pending): void {
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    const due = p.heardAt + p.timeoutMs - this.clock.now();
    p.timer = this.clock.setTimeout(() => {
      // Decide at the end of this event-loop turn, after the I/O already waiting has been read: on a
      // busy node the timer can come due while the owner's keep-alives sit unread in the socket.
      setImmediate(() => {
        p.timer = undefined;
        if (this.pending.get(p.id) !== p) return;
        if (this.clock.now() - p.heardAt >= p.timeoutMs) this.lose(p, 'lost');
        else this.arm(p);
      });
    }, Math.max(1, due));
  }

  private heard(p: Pending): void { p.heardAt = this.clock.now(); }

  private lose(p: Pending, reason: Unavailable): void {
    if (this.pending.get(p.id) !== p) return;
    this.forget(p);
    if (p.state === 'body') {
      this.hooks.cut?.();
      p.body!.destroy(new UpstreamUnavailableError(`owner ${p.owner}`, { cause: reason }));
      return;
    }
    p.resolve({ kind: 'unavailable', reason });
  }

  private cancel(p: Pending): void {
    if (this.pending.get(p.id) !== p) return;
    this.forget(p);
    this.bus.publish(ownerSubject(this.o.cluster, p.owner), wire({ t: 'cancel', id: p.id, from: this.o.nodeId }));
    if (p.state === 'body') { if (!p.body!.destroyed) p.body!.destroy(); } else p.resolve({ kind: 'unavailable', reason: 'cancelled' });
  }

  private forget(p: Pending): void {
    this.pending.delete(p.id);
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    p.timer = undefined;
    p.unlisten();
  }
}
