// The Bus over a NATS cluster: the only module that imports `nats`. Core NATS is at-most-once, so
// callers that need delivery use request/reply with retry or repeat full state (STACK.md).
import { connect, type NatsConnection, type Subscription as NatsSub } from 'nats';
import { BusClosedError, BusTimeoutError, NoRespondersError, PayloadTooLargeError } from '../errors.ts';
import type { Bus, BusHandler, BusStats, Json, SubscribeOptions, Subscription } from './bus.ts';
import { decode, encode } from './envelope.ts';
import type { KvBucket, KvBucketOptions } from './kv.ts';
import { openNatsKv } from './nats-kv.ts';

export interface NatsBusOptions {
  servers: string[];
  token?: string;
  user?: string;
  pass?: string;
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /** Wait between reconnect attempts; the client default (2 s) makes failover slow. */
  reconnectTimeWaitMs?: number;
  onStatus?: (status: { type: string; data?: unknown }) => void;
}

export class NatsBus implements Bus {
  readonly stats: BusStats = { published: 0, received: 0, malformed: 0, dropped: 0 };

  private constructor(private readonly nc: NatsConnection) {}

  static async connect(o: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: o.servers,
      ...(o.token ? { token: o.token } : {}),
      ...(o.user ? { user: o.user, pass: o.pass ?? '' } : {}),
      ...(o.name ? { name: o.name } : {}),
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectTimeWaitMs ?? 250,
      waitOnFirstConnect: false,
    });
    const bus = new NatsBus(nc);
    if (o.onStatus) {
      void (async () => { for await (const s of nc.status()) o.onStatus!({ type: s.type, data: s.data }); })().catch(() => {});
    }
    return bus;
  }

  get isClosed(): boolean { return this.nc.isClosed(); }

  /** A JetStream key-value bucket on this connection (created if missing); rejects without JetStream. */
  openKv(bucket: string, o: KvBucketOptions): Promise<KvBucket> {
    if (this.nc.isClosed()) return Promise.reject(new BusClosedError());
    return openNatsKv(this.nc, bucket, o);
  }

  publish(subject: string, data: Json): void {
    if (this.nc.isClosed()) return;
    this.stats.published++;
    try {
      this.nc.publish(subject, encode(data));
    } catch {
      // Over max_payload, or while draining: a dropped message, like any at-most-once loss, counted.
      this.stats.dropped++;
    }
  }

  subscribe(subject: string, handler: BusHandler, options: SubscribeOptions = {}): Subscription {
    if (this.nc.isClosed()) throw new BusClosedError();
    const sub: NatsSub = this.nc.subscribe(subject, {
      ...(options.queue ? { queue: options.queue } : {}),
      callback: (err, msg) => {
        if (err) return;
        const decoded = decode(msg.data);
        if (!decoded) { this.stats.malformed++; return; }
        this.stats.received++;
        const respond = msg.reply ? (d: Json) => { try { msg.respond(encode(d)); } catch { /* closed */ } } : undefined;
        try {
          handler({ subject: msg.subject, data: decoded.data, ...(respond ? { respond } : {}) });
        } catch {
          this.stats.malformed++;
        }
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async request(subject: string, data: Json, timeoutMs: number): Promise<Json> {
    if (this.nc.isClosed()) throw new BusClosedError();
    this.stats.published++;
    let reply;
    try {
      reply = await this.nc.request(subject, encode(data), { timeout: timeoutMs });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') throw new NoRespondersError(subject);
      if (code === 'TIMEOUT') throw new BusTimeoutError(subject, timeoutMs);
      if (code === 'MAX_PAYLOAD_EXCEEDED') throw new PayloadTooLargeError(subject, this.nc.info?.max_payload ?? 0);
      throw new BusClosedError();
    }
    const decoded = decode(reply.data);
    if (!decoded) {
      this.stats.malformed++;
      throw new BusTimeoutError(subject, timeoutMs);
    }
    return decoded.data;
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try { await this.nc.drain(); } catch { await this.nc.close(); }
  }
}
