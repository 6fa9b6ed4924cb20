// One stored answer. Plain data (the body aside), so the JetStream tier can carry it as JSON.
import type CachePolicy from 'http-cache-semantics';

/** Header values as stored and replayed: lower-case names, one string each. */
export type Headers = Record<string, string>;

export interface CachedEntry {
  /** The cache key (the coalesce key) and the URL it was asked under (path?query), for purge. */
  readonly key: string;
  readonly url: string;
  readonly status: number;
  /** End-to-end response headers as received (never `set-cookie`: such answers are not stored). */
  readonly headers: Headers;
  readonly body: Uint8Array;
  /** http-cache-semantics' serialized policy: revalidation headers and 304 matching come from it. */
  readonly policy: CachePolicy.CachePolicyObject;
  /** Epoch ms the answer (or its last 304) arrived: resident time counts from here. */
  readonly storedAt: number;
  /** The upstream's `Age` at arrival (respect mode), in ms. */
  readonly ageAtStoreMs: number;
  /** Freshness lifetime in ms: fresh while age < lifetime. */
  readonly lifetimeMs: number;
  /** Windows after the lifetime (RFC 5861) in which the answer may still be served. */
  readonly staleWhileRevalidateMs: number;
  readonly staleIfErrorMs: number;
  /** `must-revalidate` / `proxy-revalidate` (respect mode): never served stale, whatever the windows. */
  readonly mustRevalidate: boolean;
  /** The response's `Vary` names and the request's values for them: the secondary key. */
  readonly vary: readonly string[];
  readonly varyValues: readonly (string | null)[];
}

const ENTRY_OVERHEAD_BYTES = 256;

/** What an entry costs the store: body, headers and a fixed overhead for the rest. */
export function entryBytes(e: Pick<CachedEntry, 'body' | 'headers' | 'key' | 'url'>): number {
  let n = e.body.byteLength + ENTRY_OVERHEAD_BYTES + e.key.length + e.url.length;
  for (const k in e.headers) n += k.length + (e.headers[k]?.length ?? 0) + 4;
  return n;
}

/** Age in ms at `now`: the upstream's Age plus the time spent here (RFC 9111 §4.2.3, without Date skew). */
export const ageMs = (e: CachedEntry, now: number): number => e.ageAtStoreMs + Math.max(0, now - e.storedAt);

/** Remaining freshness in ms; negative once stale. */
export const ttlMs = (e: CachedEntry, now: number): number => e.lifetimeMs - ageMs(e, now);
