// What a stored answer can do for a new request (RFC 9111 §4, RFC 5861): serve it, serve it stale
// while one background call revalidates it, or go upstream — with conditional headers when the entry
// has validators, so a 304 refreshes it. Pure: takes `now`, never calls out.
import { Fwd } from './cache-status.ts';
import { parseDirectives, secondsMs } from './directives.ts';
import { ageMs, ttlMs, type CachedEntry, type Headers } from './entry.ts';
import type { CacheRequest } from './rules.ts';
import { libraryRequest, revivePolicy } from './store-decision.ts';

interface Served { readonly entry: CachedEntry; readonly ageMs: number; readonly ttlMs: number }

export type Lookup =
  /** Fresh: serve it. */
  | ({ readonly type: 'hit' } & Served)
  /** Stale but the client accepts it (`max-stale`): serve it, no call. */
  | ({ readonly type: 'stale-hit' } & Served)
  /** Stale within stale-while-revalidate: serve it and revalidate once in the background. */
  | ({ readonly type: 'stale-while-revalidate'; readonly conditional: Headers } & Served)
  /** Must go upstream; `conditional` holds If-None-Match / If-Modified-Since when the entry has validators. */
  | { readonly type: 'validate'; readonly fwd: typeof Fwd.Stale | typeof Fwd.Request; readonly entry: CachedEntry; readonly ttlMs: number; readonly conditional: Headers }
  | { readonly type: 'miss'; readonly fwd: typeof Fwd.UriMiss | typeof Fwd.VaryMiss }
  /** The client said `only-if-cached` and nothing stored may be served: 504 (RFC 9111 §5.2.1.7). */
  | { readonly type: 'unavailable' };

/** Variants are tried most recent first; the first whose secondary key matches is the candidate. */
export function lookup(variants: readonly CachedEntry[], req: CacheRequest, now: number): Lookup {
  const reqcc = requestDirectives(req);
  const entry = variants.find((v) => varyMatches(v, req));
  if (!entry) return reqcc.has('only-if-cached') ? { type: 'unavailable' } : { type: 'miss', fwd: variants.length ? Fwd.VaryMiss : Fwd.UriMiss };
  const age = ageMs(entry, now);
  const ttl = ttlMs(entry, now);
  const served = { entry, ageMs: age, ttlMs: ttl };
  const go = (fwd: typeof Fwd.Stale | typeof Fwd.Request): Lookup => reqcc.has('only-if-cached')
    ? { type: 'unavailable' }
    : { type: 'validate', fwd, entry, ttlMs: ttl, conditional: conditionalHeaders(entry, req, now) };

  // The client's own limits come first (RFC 9111 §5.2.1): no-cache, max-age, min-fresh.
  if (reqcc.has('no-cache')) return go(Fwd.Request);
  const maxAge = secondsMs(reqcc, 'max-age');
  if (maxAge !== undefined && age > maxAge) return go(Fwd.Request);
  const minFresh = secondsMs(reqcc, 'min-fresh');
  if (minFresh !== undefined && ttl < minFresh) return go(Fwd.Request);
  if (ttl > 0) return { type: 'hit', ...served };

  // Stale. must-revalidate / proxy-revalidate / no-cache forbid every way of serving it unvalidated.
  if (entry.mustRevalidate) return go(Fwd.Stale);
  const maxStale = reqcc.get('max-stale');
  if (maxStale === true || (maxStale !== undefined && (secondsMs(reqcc, 'max-stale') ?? -1) >= -ttl)) return { type: 'stale-hit', ...served };
  if (-ttl < entry.staleWhileRevalidateMs) return { type: 'stale-while-revalidate', ...served, conditional: conditionalHeaders(entry, req, now) };
  return go(Fwd.Stale);
}

/**
 * After a failed upstream call (an error, or 500/502/503/504): may the stale entry answer instead?
 * Yes within stale-if-error (the response's, the operator's, or the request's own directive, RFC 5861 §4),
 * never for an entry that must be revalidated.
 */
export function staleIfError(entry: CachedEntry, req: CacheRequest, now: number): boolean {
  if (entry.mustRevalidate) return false;
  const ttl = ttlMs(entry, now);
  if (ttl > 0) return true;
  const window = Math.max(entry.staleIfErrorMs, secondsMs(requestDirectives(req), 'stale-if-error') ?? 0);
  return -ttl <= window;
}

/** Upstream answers that stale-if-error may stand in for (RFC 5861 §4). */
export const isErrorStatus = (status: number): boolean => status === 500 || status === 502 || status === 503 || status === 504;

function requestDirectives(req: CacheRequest): ReturnType<typeof parseDirectives> {
  const d = parseDirectives(req.headers['cache-control']);
  // Pragma: no-cache counts only when Cache-Control is absent (RFC 9111 §5.4).
  if (req.headers['cache-control'] === undefined && /no-cache/i.test(req.headers['pragma'] ?? '')) return new Map([['no-cache', true]]);
  return d;
}

/** The secondary key (RFC 9111 §4.1): every header the response's Vary names has the stored value. */
export function varyMatches(entry: CachedEntry, req: CacheRequest): boolean {
  return entry.vary.every((name, i) => (req.headers[name] ?? null) === entry.varyValues[i]);
}

const CONDITIONAL = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];

/** Validators of the stored entry as request headers, from the library (weak ETags only on GET…). */
export function conditionalHeaders(entry: CachedEntry, req: CacheRequest, now: number): Headers {
  const clean: Record<string, string> = {};
  // The client's own conditionals are left out: the call is shared, and validates our entry only.
  for (const name in req.headers) if (!CONDITIONAL.includes(name)) clean[name] = req.headers[name]!;
  const all = revivePolicy(entry.policy, now).revalidationHeaders(libraryRequest({ ...req, headers: clean }));
  const out: Headers = {};
  for (const name of ['if-none-match', 'if-modified-since']) {
    const v = all[name];
    if (v) out[name] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** The head a stored answer goes out with: its headers and its current `Age` in whole seconds. */
export function servedHeaders(entry: CachedEntry, now: number): Headers {
  return { ...entry.headers, age: String(Math.floor(ageMs(entry, now) / 1000)) };
}
