// The in-process bus: the single-node default and the simulator's network. A LocalNetwork joins any
// number of endpoints (one per simulated node) and delivers through the injected clock, so a
// VirtualClock decides when messages land. Faults are injectable: delay, drop, duplication, partitions.
// A message is copied at publish as a JSON round trip would copy it (./json-copy.ts; values that are
// not plain data take the real round trip through the NATS envelope), so the sender's objects are
// never shared and what arrives is what NATS would deliver; raw bytes from publishRaw are decoded like
// NATS input, so malformed input is rejected the same way. Receivers of one message share its
// frozen value (a broadcast to n nodes is copied once, not n times). Like NATS's max_payload, an
// optional largest message drops a publish over it (counted) and rejects such a request.
import type { Clock } from '../clock.ts';
import { BusClosedError, BusTimeoutError, NoRespondersError, PayloadTooLargeError } from '../errors.ts';
import type { Bus, BusHandler, BusStats, Json, SubscribeOptions, Subscription } from './bus.ts';
import { decode, decodeText, encodeText } from './envelope.ts';
import { frozenJsonCopy, NOT_PLAIN } from './json-copy.ts';
import { compileSubject, type SubjectPattern } from './subject-match.ts';

export interface NetworkFaults {
  /** Delivery delay in ms for one message from one endpoint to another. Default 0. */
  delayMs?: (from: string, to: string, subject: string) => number;
  /** Probability in [0, 1] that one delivery is lost. */
  dropRate?: number;
  /** Probability in [0, 1] that one delivery arrives twice. */
  duplicateRate?: number;
  /** Uniform [0, 1) source for drops and duplicates; seed it for reproducible simulations. */
  random?: () => number;
}

type Decoded = { data: Json } | null;

/** A message as the network carries it: raw bytes from `publishRaw`, or what `carry` made of a payload. */
type Wire = Uint8Array | { readonly decoded: Decoded };

/** A published payload as its receivers will read it, taken now (later changes by the sender do not travel). */
function carry(data: Json): Wire {
  const copy = frozenJsonCopy(data);
  if (copy !== NOT_PLAIN) return { decoded: { data: copy } };
  const d = decodeText(encodeText(data));
  return { decoded: d ? { data: deepFreeze(d.data) } : null };
}

/**
 * One message on its way to its receivers. Raw bytes are decoded once, when the first copy lands,
 * and frozen: every receiver reads the same value and none can change what another sees (a handler
 * that tries throws, and its bus counts it).
 */
class InFlight {
  private decoded: Decoded | undefined;
  constructor(readonly subject: string, private readonly wire: Wire, readonly replyTo: string | undefined) {}
  read(): Decoded {
    if (this.decoded !== undefined) return this.decoded;
    const w = this.wire;
    if (w instanceof Uint8Array) {
      const d = decode(w);
      return (this.decoded = d ? { data: deepFreeze(d.data) } : null);
    }
    return (this.decoded = w.decoded);
  }
  land(due: readonly LocalSub[]): void {
    for (const sub of due) if (sub.active && sub.endpoint.isOpen) sub.endpoint.receive(sub, this.subject, this.read(), this.replyTo);
  }
}

function deepFreeze(v: Json): Json {
  if (typeof v === 'object' && v !== null) {
    for (const k in v) deepFreeze((v as Record<string, Json>)[k]!);
    Object.freeze(v);
  }
  return v;
}

interface LocalSub { endpoint: LocalBus; pattern: string; matches: SubjectPattern; queue?: string; handler: BusHandler; active: boolean; seq: number }

const NONE: readonly LocalSub[] = [];
const isWildcard = (pattern: string): boolean => pattern.includes('*') || pattern.includes('>');

export class LocalNetwork {
  /**
   * Subscriptions by literal subject, and the few with wildcards in a list: a message looks up its
   * subject instead of testing every subscription of every node (a 50-node simulation holds hundreds,
   * and request inboxes come and go per request). `seq` is the order they were made in, which is the
   * order a message reaches them.
   */
  private readonly literal = new Map<string, LocalSub[]>();
  private readonly wildcard: LocalSub[] = [];
  private count = 0;
  private subSeq = 0;
  private groups: Map<string, number> | undefined;
  private readonly queueTurn = new Map<string, number>();
  private inboxSeq = 0;
  faults: NetworkFaults;
  /** Largest message in JSON characters of its envelope, as NATS's max_payload (undefined: no limit). */
  maxPayloadChars: number | undefined;
  /** Messages not sent for being larger than maxPayloadChars (publishes dropped, replies lost, requests rejected). */
  oversized = 0;

  constructor(readonly clock: Clock, faults: NetworkFaults = {}, options: { maxPayloadChars?: number } = {}) {
    this.faults = faults;
    this.maxPayloadChars = options.maxPayloadChars;
  }

  /** @internal Whether a message of this payload may be sent; counts one that may not. */
  fits(data: Json | Uint8Array): boolean {
    if (this.maxPayloadChars === undefined) return true;
    const size = data instanceof Uint8Array ? data.length : encodeText(data).length;
    if (size <= this.maxPayloadChars) return true;
    this.oversized++;
    return false;
  }

  connect(endpointName: string): LocalBus { return new LocalBus(this, endpointName); }

  /** Splits endpoints into groups that cannot reach each other; unnamed endpoints form their own group. */
  partition(groups: string[][]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((name) => this.groups!.set(name, i)));
  }

  heal(): void { this.groups = undefined; }

  /** Live subscriptions over all endpoints (read-only: tests check that stopped nodes leave none). */
  get subscriptions(): number { return this.count; }

  reachable(a: string, b: string): boolean {
    if (!this.groups || a === b) return true;
    return (this.groups.get(a) ?? `solo:${a}`) === (this.groups.get(b) ?? `solo:${b}`);
  }

  /** @internal */
  addSub(sub: Omit<LocalSub, 'seq'>): LocalSub {
    const s = sub as LocalSub;
    s.seq = this.subSeq++;
    if (isWildcard(s.pattern)) this.wildcard.push(s);
    else {
      const list = this.literal.get(s.pattern);
      if (list) list.push(s);
      else this.literal.set(s.pattern, [s]);
    }
    this.count++;
    return s;
  }

  /** @internal */
  removeSub(sub: LocalSub): void {
    if (!sub.active) return;
    sub.active = false;
    this.count--;
    const list = isWildcard(sub.pattern) ? this.wildcard : this.literal.get(sub.pattern);
    const i = list ? list.indexOf(sub) : -1;
    if (i >= 0) list!.splice(i, 1);
    if (list !== this.wildcard && list?.length === 0) this.literal.delete(sub.pattern);
  }

  /** @internal */
  newInbox(): string { return `_INBOX.local.${++this.inboxSeq}`; }

  /** Subscriptions whose pattern matches `subject`, in the order they were made. */
  private matching(subject: string): readonly LocalSub[] {
    const direct = this.literal.get(subject) ?? NONE;
    if (this.wildcard.length === 0) return direct;
    const tokens = subject.split('.');
    const wild = this.wildcard.filter((s) => s.matches(tokens, subject));
    return wild.length === 0 ? direct : [...direct, ...wild].sort((a, b) => a.seq - b.seq);
  }

  /** @internal Routes one message; returns how many subscriptions it was addressed to (before faults). */
  route(from: LocalBus, subject: string, wire: Wire, replyTo?: string): number {
    const targets: LocalSub[] = [];
    let byQueue: Map<string, LocalSub[]> | undefined;
    for (const s of this.matching(subject)) {
      if (!s.endpoint.isOpen || !this.reachable(from.name, s.endpoint.name)) continue;
      if (s.queue === undefined) targets.push(s);
      else {
        byQueue ??= new Map();
        const members = byQueue.get(s.queue);
        if (members) members.push(s);
        else byQueue.set(s.queue, [s]);
      }
    }
    if (byQueue) {
      for (const [queue, members] of byQueue) {
        // Deterministic rotation among a queue group's members, as NATS spreads them.
        const key = `${queue}\u0000${subject}`;
        const turn = this.queueTurn.get(key) ?? 0;
        this.queueTurn.set(key, turn + 1);
        targets.push(members[turn % members.length]!);
      }
    }
    if (targets.length > 0) this.deliver(from, targets, subject, wire, replyTo);
    return targets.length;
  }

  /**
   * Schedules one message's deliveries. Deliveries due at the same instant share one clock timer and
   * land in the order of `targets`, exactly as one timer each would (they were set one after another,
   * so nothing else could fire between them): a broadcast to n nodes costs a timer per distinct
   * delay, not per node. Faults are drawn per delivery, in target order, as before.
   */
  private deliver(from: LocalBus, targets: LocalSub[], subject: string, wire: Wire, replyTo?: string): void {
    const { dropRate = 0, duplicateRate = 0, random = Math.random, delayMs } = this.faults;
    let byDelay: Map<number, LocalSub[]> | undefined;
    for (const sub of targets) {
      if (dropRate > 0 && random() < dropRate) continue;
      const copies = duplicateRate > 0 && random() < duplicateRate ? 2 : 1;
      const delay = Math.max(0, delayMs?.(from.name, sub.endpoint.name, subject) ?? 0);
      byDelay ??= new Map();
      let due = byDelay.get(delay);
      if (!due) byDelay.set(delay, (due = []));
      for (let i = 0; i < copies; i++) due.push(sub);
    }
    if (!byDelay) return;
    const message = new InFlight(subject, wire, replyTo);
    for (const [delay, due] of byDelay) this.clock.setTimeout(() => message.land(due), delay);
  }
}

export class LocalBus implements Bus {
  readonly stats: BusStats = { published: 0, received: 0, malformed: 0, dropped: 0 };
  private open = true;
  private readonly mine = new Set<LocalSub>();

  constructor(private readonly network: LocalNetwork, readonly name: string) {}

  get isOpen(): boolean { return this.open; }

  publish(subject: string, data: Json): void {
    if (!this.open) return;
    this.stats.published++;
    if (!this.network.fits(data)) { this.stats.dropped++; return; } // NATS refuses it; NatsBus drops it the same way
    this.network.route(this, subject, carry(data));
  }

  /** Sends raw bytes as if a foreign or broken peer had: for tests of malformed input. */
  publishRaw(subject: string, bytes: Uint8Array): void {
    if (this.network.fits(bytes)) this.network.route(this, subject, bytes);
  }

  subscribe(pattern: string, handler: BusHandler, options: SubscribeOptions = {}): Subscription {
    if (!this.open) throw new BusClosedError();
    const sub = this.network.addSub({ endpoint: this, pattern, matches: compileSubject(pattern), handler, active: true, ...(options.queue ? { queue: options.queue } : {}) });
    this.mine.add(sub);
    return { unsubscribe: () => { this.mine.delete(sub); this.network.removeSub(sub); } };
  }

  request(subject: string, data: Json, timeoutMs: number): Promise<Json> {
    if (!this.open) return Promise.reject(new BusClosedError());
    if (!this.network.fits(data)) return Promise.reject(new PayloadTooLargeError(subject, this.network.maxPayloadChars!));
    const clock = this.network.clock;
    return new Promise<Json>((resolve, reject) => {
      const inbox = this.network.newInbox();
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        sub.unsubscribe();
        fn();
      };
      const sub = this.subscribe(inbox, (msg) => finish(() => resolve(msg.data)));
      const timer = clock.setTimeout(() => finish(() => reject(new BusTimeoutError(subject, timeoutMs))), timeoutMs);
      this.stats.published++;
      const addressed = this.network.route(this, subject, carry(data), inbox);
      if (addressed === 0) finish(() => reject(new NoRespondersError(subject)));
    });
  }

  /** @internal */
  receive(sub: LocalSub, subject: string, decoded: Decoded, replyTo?: string): void {
    if (!decoded) { this.stats.malformed++; return; }
    this.stats.received++;
    try {
      sub.handler(replyTo === undefined ? { subject, data: decoded.data } : { subject, data: decoded.data, respond: this.responder(replyTo) });
    } catch {
      // A subscriber's bug must not take the bus down; subscribers validate and count their own input.
      this.stats.malformed++;
    }
  }

  private responder(replyTo: string): (d: Json) => void {
    return (d) => { if (this.open && this.network.fits(d)) this.network.route(this, replyTo, carry(d)); };
  }

  async close(): Promise<void> {
    this.open = false;
    for (const s of this.mine) this.network.removeSub(s);
    this.mine.clear();
  }
}
