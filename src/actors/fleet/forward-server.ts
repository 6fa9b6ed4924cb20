// The owner's side of fleet forwarding: takes flights forwarded by other nodes, hands each to the
// node's normal entry for its target (`serve`: the same coalesce path a local client takes, so a
// forward joins the owner's flight, or cache, like any client), and streams the answer back.
// While it holds forwards of a requester it tells that requester so every aliveMs; a requester that
// stops hearing gives up on its own (forward-client.ts). Malformed messages are dropped and counted.
import type { Bus, BusMessage, Subscription } from '../../bus/bus.ts';
import type { Clock, TimerId } from '../../clock.ts';
import type { HeaderMap } from '../../proxy/headers.ts';
import { DEFAULT_CHUNK_BYTES, ownerSubject, parseToOwner, replySubject, wire, type ForwardedCall, type OpenMsg, type ToRequester } from './forward-protocol.ts';
import { ForwardResponse } from './forward-response.ts';

export interface ForwardedRequest extends ForwardedCall {
  id: string;
  /** The forwarding node. */
  from: string;
  body: Buffer | undefined;
}

export interface ForwardServerOptions {
  nodeId: string;
  cluster: string;
  /** Interval of `alive` messages while forwards are held; requesters' silence bounds must be ≥ 3 of them. */
  aliveMs?: number;
  /** How long a forward may wait for its body parts. */
  partsTimeoutMs?: number;
  chunkBytes?: number;
  /** Forwards held at once; past it new ones are refused (the requester calls on its own). */
  maxHeld?: number;
  /** Body bytes a forward may carry. */
  maxBodyBytes: number;
}

export interface ForwardServerHandlers {
  /** Whether this node serves `target` with fleet scope. */
  accepts(target: string): boolean;
  /** Answers `req` on `res` exactly as a local client would be; `gone` aborts when the requester cancels. */
  serve(req: ForwardedRequest, res: ForwardResponse, gone: AbortSignal): void;
  malformed?(): void;
  /** The answer's head left for the requester. */
  served?(target: string, status: number, headers: HeaderMap): void;
}

interface Held {
  readonly open: OpenMsg;
  readonly parts: Array<string | undefined>;
  missing: number;
  res: ForwardResponse | undefined;
  readonly gone: AbortController;
  readonly until: number;
}

export const DEFAULT_MAX_HELD = 10_000;
export const DEFAULT_ALIVE_MS = 50;

export class ForwardServer {
  private readonly held = new Map<string, Held>();
  private sub: Subscription | undefined;
  private alive: TimerId | undefined;
  private readonly aliveMs: number;

  constructor(private readonly bus: Bus, private readonly clock: Clock, private readonly o: ForwardServerOptions, private readonly h: ForwardServerHandlers) {
    this.aliveMs = o.aliveMs ?? DEFAULT_ALIVE_MS;
  }

  start(): void {
    this.sub ??= this.bus.subscribe(ownerSubject(this.o.cluster, this.o.nodeId), (m) => this.onMessage(m));
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.alive !== undefined) this.clock.clearTimeout(this.alive);
    this.alive = undefined;
    // Whatever is still held ends with an abort: its requesters fall back (before the head) or cut.
    for (const h of [...this.held.values()]) { h.gone.abort(); h.res?.destroy(); }
    this.held.clear();
  }

  get heldCount(): number { return this.held.size; }

  private onMessage(msg: BusMessage): void {
    const m = parseToOwner(msg.data);
    if (!m) {
      this.h.malformed?.();
      msg.respond?.(wire({ t: 'nack', reason: 'malformed' }));
      return;
    }
    const key = `${m.from}\u0000${m.id}`;
    const held = this.held.get(key);
    if (m.t === 'open') {
      if (held) { msg.respond?.(wire({ t: 'ack' })); return; } // a duplicate open
      const refusal = this.refusal(m);
      if (refusal) { msg.respond?.(wire({ t: 'nack', reason: refusal })); return; }
      msg.respond?.(wire({ t: 'ack' }));
      const h: Held = {
        open: m, parts: [m.body, ...new Array<string | undefined>(m.parts).fill(undefined)], missing: m.parts,
        res: undefined, gone: new AbortController(), until: this.clock.now() + (this.o.partsTimeoutMs ?? 5 * this.aliveMs),
      };
      this.held.set(key, h);
      this.keepAlive();
      if (h.missing === 0) this.serve(key, h);
      return;
    }
    if (!held) return; // a part or cancel for a forward already over
    if (m.t === 'cancel') {
      this.held.delete(key);
      held.gone.abort();
      if (held.res) { held.res.cancelled = true; held.res.destroy(); }
      return;
    }
    if (held.res || m.seq > held.open.parts || held.parts[m.seq] !== undefined) return; // late or duplicate
    held.parts[m.seq] = m.data;
    if (--held.missing === 0) this.serve(key, held);
  }

  private refusal(m: OpenMsg): string | undefined {
    if (this.held.size >= (this.o.maxHeld ?? DEFAULT_MAX_HELD)) return 'busy';
    if (m.size > this.o.maxBodyBytes) return 'body too large';
    if (!this.h.accepts(m.target)) return 'target not served with cluster scope';
    return undefined;
  }

  private serve(key: string, h: Held): void {
    const { open } = h;
    const body = open.size > 0 ? Buffer.concat(h.parts.map((p) => Buffer.from(p ?? '', 'base64'))) : undefined;
    if ((body?.length ?? 0) !== open.size) { this.held.delete(key); this.h.malformed?.(); h.res?.destroy(); this.abortTo(open); return; }
    const send = (msg: ToRequester): void => this.bus.publish(replySubject(this.o.cluster, open.from), wire(msg));
    const res = new ForwardResponse(open.id, this.o.nodeId, send, this.o.chunkBytes ?? DEFAULT_CHUNK_BYTES,
      (status, headers) => this.h.served?.(open.target, status, headers));
    h.res = res;
    res.once('close', () => { if (this.held.get(key) === h) this.held.delete(key); });
    const req: ForwardedRequest = {
      id: open.id, from: open.from, target: open.target, method: open.method, path: open.path, query: open.query,
      headers: open.headers, ip: open.ip, tls: open.tls, body, clients: open.clients,
    };
    try {
      this.h.serve(req, res, h.gone.signal);
    } catch {
      res.destroy(); // the requester hears `abort` and calls on its own
    }
  }

  private abortTo(open: OpenMsg): void {
    this.bus.publish(replySubject(this.o.cluster, open.from), wire({ t: 'abort', id: open.id, from: this.o.nodeId }));
  }

  /** One `alive` per requester every aliveMs while anything is held; forwards whose parts never came are dropped. */
  private keepAlive(): void {
    if (this.alive !== undefined) return;
    this.alive = this.clock.setTimeout(() => {
      this.alive = undefined;
      const now = this.clock.now();
      const byRequester = new Map<string, string[]>();
      for (const [key, h] of this.held) {
        if (!h.res && now > h.until) { this.held.delete(key); continue; } // its parts never came
        const ids = byRequester.get(h.open.from) ?? [];
        ids.push(h.open.id);
        byRequester.set(h.open.from, ids);
      }
      for (const [from, ids] of byRequester) {
        this.bus.publish(replySubject(this.o.cluster, from), wire({ t: 'alive', from: this.o.nodeId, ids }));
      }
      if (this.held.size > 0) this.keepAlive();
    }, this.aliveMs);
  }
}
