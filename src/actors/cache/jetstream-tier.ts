// The shared tier of a target's cache in a JetStream KV bucket (cache.store: "jetstream"): every node
// of the fleet reads and writes the same bucket, the NATS cluster replicates it and keeps it across
// restarts. Best effort by contract (cache-tier.ts): while the bucket cannot be reached the tier says
// it is unavailable, the node serves from memory alone (one log line, the tier-up gauge at 0) and the
// bucket is opened again every `retryMs`.
//
// Keys are hash(path).hash(path?query).hash(cache key), so purging one URL, or every query of one
// path, is a subject-filtered key listing; entries read back are checked against the full key.
import { createHash } from 'node:crypto';
import type { Clock, TimerId } from '../../clock.ts';
import type { KvBucket } from '../../bus/kv.ts';
import { decodeVariants, encodeVariants } from '../../cache/index.ts';
import type { CachedEntry } from '../../cache/index.ts';
import type { CacheTier } from './cache-tier.ts';

export interface JetStreamTierDeps {
  readonly target: string;
  /** Opens (or creates) the bucket; rejects while JetStream is unreachable. */
  readonly open: () => Promise<KvBucket>;
  readonly clock: Clock;
  readonly retryMs?: number;
  readonly log?: ((line: string, fields?: Record<string, unknown>) => void) | undefined;
  readonly onError?: (op: string) => void;
}

const DEFAULT_RETRY_MS = 5_000;

export class JetStreamTier implements CacheTier {
  private bucket: KvBucket | undefined;
  private up = false;
  private closed = false;
  private timer: TimerId | undefined;
  private opening: Promise<void> | undefined;
  private saidDown = false;

  constructor(private readonly deps: JetStreamTierDeps) {
    this.opening = this.connect();
  }

  get available(): boolean { return this.up; }

  /** Resolves once the first attempt to open the bucket has finished (either way): for tests and startup. */
  ready(): Promise<void> { return this.opening ?? Promise.resolve(); }

  async get(key: string, url: string): Promise<CachedEntry[]> {
    const b = this.usable();
    if (!b) return [];
    try {
      const data = await b.get(kvKey(url, key));
      const variants = data ? decodeVariants(data) : null;
      return variants ? variants.filter((e) => e.key === key && e.url === url) : [];
    } catch (err) {
      this.failed('get', err);
      return [];
    }
  }

  async put(key: string, url: string, variants: readonly CachedEntry[]): Promise<void> {
    const b = this.usable();
    if (!b) return;
    try { await b.put(kvKey(url, key), encodeVariants(variants)); } catch (err) { this.failed('put', err); }
  }

  async deleteUrl(url: string): Promise<void> {
    const b = this.usable();
    if (!b) return;
    const [path, query] = splitUrl(url);
    // A path given with a query is one URL; without one, every query of it (admin purge semantics).
    const filter = url.includes('?') || query !== undefined ? `${h(path)}.${h(url)}.>` : `${h(path)}.>`;
    try {
      for (const k of await b.keys(filter)) await b.delete(k);
    } catch (err) { this.failed('delete', err); }
  }

  async clear(): Promise<void> {
    const b = this.usable();
    if (!b) return;
    try {
      for (const k of await b.keys()) await b.delete(k);
    } catch (err) { this.failed('delete', err); }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
  }

  private usable(): KvBucket | undefined { return this.up ? this.bucket : undefined; }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      this.bucket = await this.deps.open();
      this.up = true;
      if (this.saidDown) this.deps.log?.('cache: JetStream tier back', { target: this.deps.target });
      this.saidDown = false;
    } catch (err) {
      this.down('open', err);
    }
  }

  private failed(op: string, err: unknown): void {
    this.deps.onError?.(op);
    this.down(op, err);
  }

  private down(op: string, err: unknown): void {
    this.up = false;
    if (!this.saidDown) {
      this.deps.log?.('cache: JetStream unavailable, serving from memory alone', { target: this.deps.target, op, error: String((err as Error)?.message ?? err) });
      this.saidDown = true;
    }
    if (this.closed || this.timer !== undefined) return;
    this.timer = this.deps.clock.setTimeout(() => { this.timer = undefined; this.opening = this.connect(); }, this.deps.retryMs ?? DEFAULT_RETRY_MS);
  }
}

const h = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 22);

function splitUrl(url: string): [string, string | undefined] {
  const q = url.indexOf('?');
  return q < 0 ? [url, undefined] : [url.slice(0, q), url.slice(q + 1)];
}

/** hash(path).hash(url).hash(key): base64url has no '.', so the three parts stay apart. */
export function kvKey(url: string, key: string): string {
  return `${h(splitUrl(url)[0])}.${h(url)}.${h(key)}`;
}
