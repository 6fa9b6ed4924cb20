// RFC 9111 §4.4: a successful (2xx/3xx) answer to an unsafe method invalidates what is stored for the
// target URI, and for Location / Content-Location when they are on the same origin (never another
// host's entries, so one origin cannot flush another's). Methods the operator lets the cache store
// (POST as an exact-match prompt cache) are treated as queries, not changes.
import type { Headers } from './entry.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export interface InvalidationInput {
  readonly method: string;
  readonly status: number;
  /** The request's path?query as the store keys it. */
  readonly url: string;
  readonly headers: Headers;
  /** Origins (`http://host:port`) that count as this target: its replicas, and the client-facing one. */
  readonly origins: readonly string[];
  /** `cache.methods`: a cached method does not invalidate. */
  readonly cachedMethods: readonly string[];
}

/** The URLs (path?query) whose entries must go; empty when nothing is invalidated. */
export function invalidatedUrls(i: InvalidationInput): string[] {
  if (SAFE.has(i.method) || i.cachedMethods.includes(i.method)) return [];
  if (i.status < 200 || i.status >= 400) return [];
  const out = new Set([i.url]);
  const base = new URL(i.url, 'http://sluice.invalid');
  for (const name of ['location', 'content-location']) {
    const v = i.headers[name];
    if (!v) continue;
    let u: URL;
    try { u = new URL(v, base); } catch { continue; }
    const sameOrigin = u.origin === base.origin || i.origins.includes(u.origin);
    if (sameOrigin) out.add(u.pathname + u.search);
  }
  return [...out];
}
