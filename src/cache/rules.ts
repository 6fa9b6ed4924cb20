// The cache's per-target settings as the decisions read them (from `targets[].cache` and `public`).
export interface CacheRules {
  /** `respect`: RFC 9111. `ignore`: fresh for `ttlMs` whatever the upstream says; privacy still holds. */
  readonly upstreamHeaders: 'respect' | 'ignore';
  /** Freshness assumed when the answer gives none (respect), or always (ignore). 0 = none. */
  readonly ttlMs: number;
  /** Upper-case methods whose answers may be stored. POST is keyed by the body's hash. */
  readonly methods: readonly string[];
  /** RFC 5861 windows the operator grants on top of what the upstream says. */
  readonly staleWhileRevalidateMs: number;
  readonly staleIfErrorMs: number;
  /** The target's `public`: credentials are left out of the key, so entries may cross users. */
  readonly public: boolean;
}

export const DEFAULT_CACHE_RULES: CacheRules = Object.freeze({
  upstreamHeaders: 'respect', ttlMs: 0, methods: Object.freeze(['GET', 'HEAD']),
  staleWhileRevalidateMs: 0, staleIfErrorMs: 0, public: false,
});

/** One request as the cache sees it: upper-case method, path?query, lower-case single-valued headers. */
export interface CacheRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** One upstream answer's head; `set-cookie` counts as present whatever its shape. */
export interface CacheResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** Node-style headers (arrays for repeated fields) to one lower-case string each. */
export function flattenHeaders(h: Readonly<Record<string, string | readonly string[] | number | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}
