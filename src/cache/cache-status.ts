// RFC 9211 `Cache-Status`: one list member naming this cache (`sluice`) and what it did for the
// request — served it (`hit`), or forwarded it and why (`fwd=…`), with the entry's remaining
// freshness in seconds (`ttl`, negative once stale) and whether the answer was stored.

/** Why a request went upstream (RFC 9211 §2.2). */
export const Fwd = {
  /** The cache was not used: a method it does not cache, a request it must not store, `no-store`. */
  Bypass: 'bypass',
  Method: 'method',
  /** Nothing stored under the key. */
  UriMiss: 'uri-miss',
  /** Something stored under the key, but for other values of the response's `Vary` headers. */
  VaryMiss: 'vary-miss',
  Miss: 'miss',
  /** The request asked for a fresh answer (`no-cache`, `max-age`, `min-fresh`). */
  Request: 'request',
  /** The stored answer was stale and had to be validated. */
  Stale: 'stale',
} as const;
export type Fwd = (typeof Fwd)[keyof typeof Fwd];

export interface CacheStatusParts {
  readonly hit?: boolean;
  readonly fwd?: Fwd;
  /** Status of the upstream's answer when forwarded (304 for a successful validation). */
  readonly fwdStatus?: number;
  /** Remaining freshness in ms; rendered as whole seconds, rounded down (negative: stale by that much). */
  readonly ttlMs?: number;
  readonly stored?: boolean;
  /** Answered by another request's upstream call (the single-flight). */
  readonly collapsed?: boolean;
  /** Free text, e.g. `stale-if-error`, `stale-while-revalidate`, `only-if-cached`. */
  readonly detail?: string;
}

export const CACHE_NAME = 'sluice';

export function cacheStatus(p: CacheStatusParts): string {
  const out = [CACHE_NAME];
  if (p.hit) out.push('hit');
  else if (p.fwd) out.push(`fwd=${p.fwd}`);
  if (!p.hit && p.fwdStatus !== undefined) out.push(`fwd-status=${p.fwdStatus}`);
  if (p.ttlMs !== undefined && Number.isFinite(p.ttlMs)) out.push(`ttl=${Math.floor(p.ttlMs / 1000)}`);
  if (p.stored) out.push('stored');
  if (p.collapsed) out.push('collapsed');
  // sf-string: quote and escape, so a detail never breaks the list.
  if (p.detail) out.push(`detail="${p.detail.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
  return out.join('; ');
}
