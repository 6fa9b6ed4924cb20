// A 304 answering our conditional request refreshes the stored entry (RFC 9111 §4.3.4): the stored
// headers are updated from the 304's (body-describing ones kept), and freshness starts again.
// http-cache-semantics decides whether the 304 matches the entry (strong/weak ETag, Last-Modified).
import type { CachedEntry, Headers } from './entry.ts';
import type { CacheRequest, CacheRules } from './rules.ts';
import { decideStore, libraryRequest, revivePolicy } from './store-decision.ts';

/** Kept from the stored answer: they describe its body, which a 304 does not carry. */
const BODY_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range']);
const NEVER = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie', 'cache-status']);

export type Refresh =
  | { readonly type: 'refreshed'; readonly entry: CachedEntry }
  /** The 304 is for another representation; the stored one is served once more but not refreshed. */
  | { readonly type: 'unmatched' }
  /** The refreshed headers forbid storing (e.g. now `no-store`): drop the entry. */
  | { readonly type: 'drop' };

export function refreshWith304(entry: CachedEntry, req: CacheRequest, notModified: Headers, now: number, rules: CacheRules): Refresh {
  const { matches } = revivePolicy(entry.policy, now).revalidatedPolicy(libraryRequest(req), { status: 304, headers: notModified });
  if (!matches) return { type: 'unmatched' };
  const headers: Record<string, string> = { ...entry.headers };
  for (const name in notModified) if (!BODY_HEADERS.has(name) && !NEVER.has(name)) headers[name] = notModified[name]!;
  // The stored answer's Age described its first arrival; the 304 brings its own (or none).
  if (notModified['age'] === undefined) delete headers['age'];
  const d = decideStore({ key: entry.key, req, res: { status: entry.status, headers }, body: entry.body, now }, rules);
  return d.store ? { type: 'refreshed', entry: d.entry } : { type: 'drop' };
}
