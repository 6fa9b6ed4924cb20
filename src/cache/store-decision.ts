// Whether an upstream answer may be stored, and for how long it stays fresh. RFC 9111's rules for a
// shared cache come from http-cache-semantics (storable: method, status, no-store, private,
// Authorization; lifetime: s-maxage > max-age > Expires > heuristic); this module adds what the
// library leaves out or gets wrong for us: the overrides (`ttlMs`, `ignore`), RFC 5861 windows,
// `proxy-revalidate`, and the privacy rules that hold under every override.
import CachePolicy from 'http-cache-semantics';
import { parseDirectives, secondsMs } from './directives.ts';
import type { CachedEntry, Headers } from './entry.ts';
import type { CacheRequest, CacheResponse, CacheRules } from './rules.ts';

export const NotStored = {
  Method: 'method',
  RequestNoStore: 'request-no-store',
  NoStore: 'no-store',
  Private: 'private',
  Authorization: 'authorization',
  SetCookie: 'set-cookie',
  VaryStar: 'vary-star',
  Status: 'status',
  /** Nothing would make the entry usable later: no lifetime, no validator, no stale window. */
  NothingToKeep: 'nothing-to-keep',
} as const;
export type NotStored = (typeof NotStored)[keyof typeof NotStored];

export type StoreDecision =
  | { readonly store: true; readonly entry: CachedEntry }
  | { readonly store: false; readonly reason: NotStored };

/** Statuses cacheable by default (RFC 9110 §15.1), 206 aside: ranges are not stored. */
const CACHEABLE_BY_DEFAULT = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Hop-by-hop headers and those that describe this hop only are never stored (RFC 9111 §3.1). */
const NOT_STORED_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'cache-status', 'x-sluice-node', 'x-sluice-batch',
]);

export interface StoreInput {
  readonly key: string;
  readonly req: CacheRequest;
  readonly res: CacheResponse;
  readonly body: Uint8Array;
  readonly now: number;
}

export function decideStore(input: StoreInput, rules: CacheRules): StoreDecision {
  const { req, res, now } = input;
  if (!rules.methods.includes(req.method)) return no(NotStored.Method);
  const reqcc = parseDirectives(req.headers['cache-control']);
  if (reqcc.has('no-store')) return no(NotStored.RequestNoStore);
  // Set-Cookie starts or changes one client's session: replayed to anyone else it hands the session
  // over. Keys cannot tell anonymous clients apart, so such answers are never stored, in any mode.
  if (res.headers['set-cookie'] !== undefined) return no(NotStored.SetCookie);
  const vary = varyNames(res.headers['vary']);
  if (vary === '*') return no(NotStored.VaryStar);
  const rescc = parseDirectives(res.headers['cache-control']);
  const credentials = req.headers['authorization'] !== undefined || req.headers['cookie'] !== undefined;
  // An entry is one user's own when its key holds credentials: the target is not public and the
  // request carried some. Anonymous requests share a key, so "private" must not be stored for them.
  const perUser = !rules.public && credentials;

  const policy = createPolicy(req, res, now);
  let lifetimeMs: number;
  let swrMs = rules.staleWhileRevalidateMs;
  let sieMs = rules.staleIfErrorMs;
  let mustRevalidate = false;
  let ageAtStoreMs = 0;
  if (rules.upstreamHeaders === 'ignore') {
    if (!CACHEABLE_BY_DEFAULT.has(res.status)) return no(NotStored.Status);
    if (rescc.has('private') && !perUser) return no(NotStored.Private);
    lifetimeMs = rules.ttlMs;
  } else {
    if (rescc.has('no-store')) return no(NotStored.NoStore);
    if (rescc.has('private')) return no(NotStored.Private);
    if (req.headers['authorization'] !== undefined
      && !(rescc.has('public') || rescc.has('s-maxage') || rescc.has('must-revalidate'))) return no(NotStored.Authorization);
    if (!policy.storable()) return no(NotStored.Status);
    lifetimeMs = lifetimeOf(req, res, rescc, now, rules.ttlMs);
    swrMs = Math.max(swrMs, secondsMs(rescc, 'stale-while-revalidate') ?? 0);
    sieMs = Math.max(sieMs, secondsMs(rescc, 'stale-if-error') ?? 0);
    mustRevalidate = rescc.has('must-revalidate') || rescc.has('proxy-revalidate') || rescc.has('no-cache');
    ageAtStoreMs = ageHeaderMs(res.headers['age']);
  }
  const hasValidator = res.headers['etag'] !== undefined || res.headers['last-modified'] !== undefined;
  if (lifetimeMs <= ageAtStoreMs && !hasValidator && (mustRevalidate || (swrMs === 0 && sieMs === 0))) return no(NotStored.NothingToKeep);

  const headers: Headers = {};
  for (const name in res.headers) if (!NOT_STORED_HEADERS.has(name)) headers[name] = res.headers[name]!;
  return {
    store: true,
    entry: {
      key: input.key, url: req.url, status: res.status, headers, body: input.body,
      policy: policy.toObject(), storedAt: now, ageAtStoreMs, lifetimeMs,
      staleWhileRevalidateMs: mustRevalidate ? 0 : swrMs, staleIfErrorMs: mustRevalidate ? 0 : sieMs,
      mustRevalidate, vary, varyValues: vary.map((n) => req.headers[n] ?? null),
    },
  };
}

const no = (reason: NotStored): StoreDecision => ({ store: false, reason });

/**
 * Freshness lifetime in respect mode. Explicit freshness (s-maxage, max-age, Expires) wins; `no-cache`
 * means 0 (stored, validated on every use); with none given, the operator's `ttlMs` replaces the
 * RFC's heuristic (10% of the time since Last-Modified), which applies only when `ttlMs` is 0.
 */
function lifetimeOf(req: CacheRequest, res: CacheResponse, rescc: ReturnType<typeof parseDirectives>, now: number, ttlMs: number): number {
  const pragmaNoCache = res.headers['cache-control'] === undefined && /no-cache/.test(res.headers['pragma'] ?? '');
  if (rescc.has('no-cache') || pragmaNoCache) return 0;
  const explicit = rescc.has('s-maxage') || rescc.has('max-age') || res.headers['expires'] !== undefined;
  if (!explicit && ttlMs > 0) return ttlMs;
  // The library answers 0 for proxy-revalidate; RFC 9111 §5.2.2.8 makes it must-revalidate for
  // shared caches (fresh until stale, then validated), so the lifetime is read without it.
  const headers = rescc.has('proxy-revalidate')
    ? { ...res.headers, 'cache-control': res.headers['cache-control']!.replace(/\bproxy-revalidate\b/gi, 'must-revalidate') }
    : res.headers;
  return Math.round(createPolicy(req, { status: res.status, headers }, now).maxAge() * 1000);
}

function ageHeaderMs(v: string | undefined): number {
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) * 1000 : 0;
}

export function varyNames(v: string | undefined): readonly string[] | '*' {
  if (v === undefined) return [];
  const names = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  return names.includes('*') ? '*' : [...new Set(names)].sort();
}

/** The library's request view: no Host (one target, many client spellings of it). */
export function libraryRequest(req: CacheRequest): CachePolicy.Request {
  const { host: _host, ...headers } = req.headers;
  return { method: req.method, url: req.url, headers };
}

/** A policy as if created at `now`: the library reads Date.now(), so its clock is set by hand. */
export function createPolicy(req: CacheRequest, res: CacheResponse, now: number): CachePolicy {
  const obj = new CachePolicy(libraryRequest(req), { status: res.status, headers: res.headers }, { shared: true }).toObject();
  return revivePolicy({ ...obj, t: now }, now);
}

export function revivePolicy(obj: CachePolicy.CachePolicyObject, now: number): CachePolicy {
  const p = CachePolicy.fromObject(obj);
  // `now()` is the library's documented seam for tests and clocks ("you can monkey-patch it").
  (p as CachePolicy & { now(): number }).now = () => now;
  return p;
}
