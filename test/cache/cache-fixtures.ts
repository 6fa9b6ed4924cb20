// Shared builders for the cache's unit tests (not a test file: uvu's pattern skips it).
import { cacheKey, decideStore, DEFAULT_CACHE_RULES, lookup } from '../../src/cache/index.ts';
import type { CachedEntry, CacheRequest, CacheRules, Lookup, StoreDecision } from '../../src/cache/index.ts';

export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
export const S = 1000;
export const httpDate = (ms: number): string => new Date(ms).toUTCString();

export const rules = (over: Partial<CacheRules> = {}): CacheRules => ({ ...DEFAULT_CACHE_RULES, ...over });

export function request(over: { method?: string; url?: string; headers?: Record<string, string>; body?: string } = {}): CacheRequest & { body?: Uint8Array } {
  return {
    method: over.method ?? 'GET', url: over.url ?? '/items?a=1', headers: over.headers ?? {},
    ...(over.body !== undefined ? { body: Buffer.from(over.body) } : {}),
  };
}

export function keyOf(req: CacheRequest & { body?: Uint8Array }, r: CacheRules): string {
  const [path, query = ''] = req.url.split('?');
  return cacheKey({ method: req.method, path: path!, query, headers: req.headers, ...(req.body ? { body: req.body } : {}) }, { public: r.public });
}

/** Stores an answer given at `now` with a Date header of `now` unless the headers say otherwise. */
export function store(resHeaders: Record<string, string>, opts: {
  req?: CacheRequest & { body?: Uint8Array }; rules?: CacheRules; status?: number; now?: number; body?: string;
} = {}): StoreDecision {
  const r = opts.rules ?? rules();
  const req = opts.req ?? request();
  const now = opts.now ?? T0;
  return decideStore({
    key: keyOf(req, r), req, now, body: Buffer.from(opts.body ?? 'answer'),
    res: { status: opts.status ?? 200, headers: { date: httpDate(now), ...resHeaders } },
  }, r);
}

export function stored(resHeaders: Record<string, string>, opts: Parameters<typeof store>[1] = {}): CachedEntry {
  const d = store(resHeaders, opts);
  if (!d.store) throw new Error(`expected the answer to be stored, not stored: ${d.reason}`);
  return d.entry;
}

export const at = (entry: CachedEntry, ms: number, reqHeaders: Record<string, string> = {}): Lookup =>
  lookup([entry], request({ url: entry.url, headers: reqHeaders }), T0 + ms);
