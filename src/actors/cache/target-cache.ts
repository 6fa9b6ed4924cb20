// One target's response cache at run time: the memory store, the optional shared tier under it, the
// single-flight of validations (a stale hot key costs one upstream call, in the background or not),
// counts and metrics. The RFC decisions are the pure functions of src/cache; the upstream call comes
// in as a function, so this module knows neither HTTP nor NATS.
import type { Clock } from '../../clock.ts';
import type { CacheConfig } from '../../config/schema.ts';
import {
  CacheStore, decideStore, invalidatedUrls, isErrorStatus, lookup, refreshWith304,
} from '../../cache/index.ts';
import type { CachedEntry, CacheRequest, CacheResponse, CacheRules, Headers, Lookup } from '../../cache/index.ts';
import type { NodeMetrics } from '../../metrics.ts';
import { CacheMetrics } from './cache-metrics.ts';
import type { CacheTier } from './cache-tier.ts';

/** A complete upstream answer, body buffered. */
export interface Fetched { readonly status: number; readonly headers: Headers; readonly body: Buffer }

export type Validation =
  /** 304: the stored answer (refreshed when the 304 matched it) is good to serve. */
  | { readonly type: 'not-modified'; readonly entry: CachedEntry }
  /** A full new answer (stored if it may be). */
  | { readonly type: 'fetched'; readonly reply: Fetched; readonly stored: boolean }
  /** The call failed, or answered 500/502/503/504: stale-if-error may stand in. */
  | { readonly type: 'failed'; readonly error: unknown; readonly reply?: Fetched };

export interface TargetCacheDeps {
  readonly target: string;
  readonly clock: Clock;
  readonly metrics: NodeMetrics;
  readonly tier?: CacheTier | undefined;
  readonly log?: ((line: string, fields?: Record<string, unknown>) => void) | undefined;
}

export class TargetCache {
  readonly rules: CacheRules;
  readonly store: CacheStore;
  /** Answers larger than this are served but never buffered for storing. */
  readonly maxEntryBytes: number;
  private readonly metrics: CacheMetrics;
  private readonly flights = new Map<string, Promise<Validation>>();
  private readonly tierWrites = new Set<Promise<void>>();
  private readonly untrack: () => void;
  private readonly counts = { hits: 0, stale: 0, misses: 0, revalidations: 0, evictions: 0 };

  constructor(config: CacheConfig & { public: boolean }, private readonly deps: TargetCacheDeps) {
    this.rules = {
      upstreamHeaders: config.upstreamHeaders, ttlMs: config.ttlMs, methods: config.methods,
      staleWhileRevalidateMs: config.staleWhileRevalidateMs, staleIfErrorMs: config.staleIfErrorMs, public: config.public,
    };
    this.maxEntryBytes = config.maxEntryBytes;
    this.metrics = CacheMetrics.for(deps.metrics);
    this.store = new CacheStore({
      maxBytes: config.maxBytes, maxEntryBytes: config.maxEntryBytes,
      onEvict: () => { this.counts.evictions++; this.metrics.evictions.inc({ target: deps.target }); },
    });
    this.untrack = this.metrics.track({
      target: deps.target,
      stats: () => ({ ...this.store.stats(), tierUp: deps.tier ? deps.tier.available : null }),
    });
  }

  handles(method: string): boolean { return this.rules.methods.includes(method); }

  /** Memory first; on a miss there, the shared tier (whose answer is kept in memory too). */
  async find(key: string, req: CacheRequest): Promise<Lookup> {
    let variants = this.store.get(key);
    if (variants.length === 0 && this.deps.tier?.available) {
      const shared = await this.deps.tier.get(key, req.url);
      for (const e of [...shared].reverse()) this.store.put(e);
      variants = this.store.get(key);
    }
    return lookup(variants, req, this.deps.clock.now());
  }

  /** Counts what the front did with a lookup, for metrics and the admin hit ratio. */
  countHit(): void { this.counts.hits++; this.metrics.hits.inc({ target: this.deps.target }); }
  countStale(why: 'stale-while-revalidate' | 'max-stale' | 'stale-if-error'): void {
    this.counts.stale++;
    this.metrics.staleServed.inc({ target: this.deps.target, why });
  }
  countMiss(fwd: string): void { this.counts.misses++; this.metrics.misses.inc({ target: this.deps.target, fwd }); }

  /** Would this head be stored, were its body within bounds? (For `Cache-Status: stored` before the body.) */
  wouldStore(key: string, req: CacheRequest, res: CacheResponse): boolean {
    return decideStore({ key, req, res, body: new Uint8Array(0), now: this.deps.clock.now() }, this.rules).store;
  }

  /** A complete answer: stored when the rules and bounds allow. Returns whether it was stored. */
  fill(key: string, req: CacheRequest, res: CacheResponse, body: Uint8Array): boolean {
    const d = decideStore({ key, req, res, body, now: this.deps.clock.now() }, this.rules);
    if (!d.store) { this.metrics.stores.inc({ target: this.deps.target, outcome: d.reason }); return false; }
    return this.keep(d.entry);
  }

  /** Answers too large to buffer are counted, never stored. */
  countTooBig(): void { this.metrics.stores.inc({ target: this.deps.target, outcome: 'too-big' }); }

  /**
   * Validates `entry` upstream once however many ask at the same time: the first caller's `fetch`
   * makes the call, later ones share its outcome. `fetch` gets the conditional headers to add.
   */
  validate(entry: CachedEntry, req: CacheRequest, conditional: Headers, fetch: (conditional: Headers) => Promise<Fetched>): Promise<Validation> {
    const flightKey = `${entry.key}\n${JSON.stringify(entry.varyValues)}`;
    const running = this.flights.get(flightKey);
    if (running) return running;
    const flight = this.runValidation(entry, req, conditional, fetch).finally(() => this.flights.delete(flightKey));
    this.flights.set(flightKey, flight);
    return flight;
  }

  /** Resolves once the shared tier's first connection attempt has finished (tests, startup). */
  async tierReady(): Promise<void> { await this.deps.tier?.ready?.(); }

  /** Resolves once every write to the shared tier started so far has finished (tests, shutdown). */
  async tierSettled(): Promise<void> { await Promise.all([...this.tierWrites]); }

  /** Validations in flight now (tests and describe). */
  get validating(): number { return this.flights.size; }

  private async runValidation(entry: CachedEntry, req: CacheRequest, conditional: Headers, fetch: (c: Headers) => Promise<Fetched>): Promise<Validation> {
    this.counts.revalidations++;
    const count = (outcome: string) => this.metrics.revalidations.inc({ target: this.deps.target, outcome });
    let reply: Fetched;
    try {
      reply = await fetch(conditional);
    } catch (error) {
      count('error');
      return { type: 'failed', error };
    }
    const now = this.deps.clock.now();
    if (reply.status === 304) {
      count('not-modified');
      const r = refreshWith304(entry, req, reply.headers, now, this.rules);
      if (r.type === 'refreshed') { this.keep(r.entry); return { type: 'not-modified', entry: r.entry }; }
      if (r.type === 'drop') this.store.remove(entry);
      return { type: 'not-modified', entry };
    }
    if (isErrorStatus(reply.status)) { count('error'); return { type: 'failed', error: null, reply }; }
    count('modified');
    return { type: 'fetched', reply, stored: this.fill(entry.key, req, reply, reply.body) };
  }

  /** After an answer to an unsafe method: drops what it invalidates (RFC 9111 §4.4). */
  afterUnsafe(method: string, url: string, status: number, headers: Headers, origins: readonly string[]): void {
    for (const u of invalidatedUrls({ method, status, url, headers, origins, cachedMethods: this.rules.methods })) {
      this.store.invalidate(u);
      void this.deps.tier?.deleteUrl(u);
    }
  }

  /** Admin purge: everything, or one path (with a query: that URL; without: every query of it). */
  async purge(path?: string): Promise<number> {
    if (path === undefined) {
      const n = this.store.clear();
      await this.deps.tier?.clear();
      return n;
    }
    const n = this.store.purgePath(path);
    await this.deps.tier?.deleteUrl(path);
    return n;
  }

  stats(): Record<string, unknown> {
    const { keys, entries, bytes } = this.store.stats();
    const served = this.counts.hits + this.counts.stale;
    const asked = served + this.counts.misses;
    return {
      entries, keys, bytes, hits: this.counts.hits, staleServed: this.counts.stale, misses: this.counts.misses,
      revalidations: this.counts.revalidations, evictions: this.counts.evictions,
      hitRatio: asked === 0 ? 0 : served / asked,
      store: this.deps.tier ? (this.deps.tier.available ? 'jetstream' : 'memory (jetstream unavailable)') : 'memory',
    };
  }

  async close(): Promise<void> {
    this.untrack();
    await this.tierSettled();
    await this.deps.tier?.close();
  }

  private keep(entry: CachedEntry): boolean {
    if (this.store.put(entry) === 'too-big') { this.countTooBig(); return false; }
    this.metrics.stores.inc({ target: this.deps.target, outcome: 'stored' });
    if (this.deps.tier?.available) {
      const w: Promise<void> = this.deps.tier.put(entry.key, entry.url, this.store.get(entry.key)).finally(() => this.tierWrites.delete(w));
      this.tierWrites.add(w);
    }
    return true;
  }
}
