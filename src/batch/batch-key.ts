// Which requests may share one upstream call. Two requests get the same key only if everything that
// shapes the upstream answer matches: method, path, query, the target's `vary` headers and — unless
// the target is `public` — the caller's credentials, so one user's private reply never reaches another.
// Parts are JSON-encoded before hashing, so no two distinct inputs can meet by concatenation
// ("/a" + "b" vs "/ab" + ""); long ones are replaced by their SHA-256 digest, so keys stay short
// whatever the headers hold.
import { createHash } from 'node:crypto';

export type BatchKey = string & { readonly __brand: 'BatchKey' };

/** Header values as Node (`IncomingHttpHeaders`) or a plain object hands them over; names any case. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface KeyedRequest {
  readonly method: string;
  readonly path: string;
  /** The raw query string, with or without its leading `?`. Parameter order is kept: upstreams may care. */
  readonly query?: string;
  readonly headers: HeaderBag;
  /** Coalescing only: a body makes two requests identical only if it is byte for byte the same. */
  readonly body?: Uint8Array;
}

export interface KeyOptions {
  /** Header names whose values select the representation (`accept`, `accept-language`…). */
  readonly vary?: readonly string[];
  /** The target serves the same answer to everyone: credentials are left out of the key. */
  readonly public?: boolean;
}

/** Credentials: always part of a key unless the target is public. */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'cookie'];

/** Key for `coalesce` mode: requests with equal keys get one upstream call and the same answer. */
export function coalesceKey(req: KeyedRequest, opts: KeyOptions = {}): BatchKey {
  const body = req.body && req.body.length > 0 ? createHash('sha256').update(req.body).digest('base64url') : null;
  return digest(['coalesce', ...sharedParts(req, opts), body]);
}

/**
 * Key for `merge` mode: requests with equal keys may be merged into one call. Bodies differ by
 * design; everything else travels once for the whole batch, so the query and `vary` headers are in
 * the key as well as the method, path and (unless public) credentials.
 */
export function mergeKey(req: Omit<KeyedRequest, 'body'>, opts: KeyOptions = {}): BatchKey {
  return digest(['merge', ...sharedParts(req, opts)]);
}

const NO_VARY: readonly string[] = [];
/** The key's header names for a `vary` list (a target's, so the same array every request), sorted once. */
const namesFor = new WeakMap<readonly string[], { shared: readonly string[]; private: readonly string[] }>();

function keyHeaderNames(opts: KeyOptions): readonly string[] {
  const vary = opts.vary ?? NO_VARY;
  let names = namesFor.get(vary);
  if (!names) {
    const lower = vary.map((n) => n.toLowerCase());
    names = { shared: [...new Set(lower)].sort(), private: [...new Set([...lower, ...CREDENTIAL_HEADERS])].sort() };
    namesFor.set(vary, names);
  }
  return opts.public ? names.shared : names.private;
}

function sharedParts(req: Omit<KeyedRequest, 'body'>, opts: KeyOptions): unknown[] {
  const byName = headerIndex(req.headers);
  const headers = keyHeaderNames(opts).map((n) => [n, byName.get(n) ?? null]);
  const query = req.query?.startsWith('?') ? req.query.slice(1) : req.query ?? '';
  return [req.method.toUpperCase(), req.path, query, headers];
}

/**
 * Lower-cased name → values. A name present under several spellings keeps every value, ordered by
 * spelling so that key order in the bag never matters; an absent header (null) differs from an empty one.
 */
function headerIndex(headers: HeaderBag): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of Object.keys(headers).sort()) {
    const v = headers[raw];
    if (v === undefined) continue;
    const name = raw.toLowerCase();
    const list = out.get(name) ?? [];
    if (typeof v === 'string') list.push(v);
    else list.push(...v);
    out.set(name, list);
  }
  return out;
}

/** Keys up to this long are the JSON itself: hashing costs ~3 µs per request in a burst of thousands. */
const RAW_KEY_MAX_CHARS = 256;

// A raw key is a JSON array and starts with '['; a SHA-256 digest in base64url never contains one,
// so the two forms cannot meet, and either way distinct inputs get distinct keys.
function digest(parts: unknown[]): BatchKey {
  const json = JSON.stringify(parts);
  return (json.length <= RAW_KEY_MAX_CHARS ? json : createHash('sha256').update(json).digest('base64url')) as BatchKey;
}
