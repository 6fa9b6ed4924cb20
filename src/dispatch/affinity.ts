// Session affinity: which replica a session key (a header or cookie value) is bound to. A binding
// lives `ttlMs` after its last use, and the table holds at most `maxEntries`, dropping the least
// recently used first, so a flood of one-off keys cannot grow it without bound.
//
// Mutable, unlike most pure modules here: a per-request copy of a table of thousands of sessions
// would cost more than the dispatch itself. It is owned by one dispatcher and takes `now` as input.
import { InvalidArgumentError } from '../errors.ts';

export interface AffinityConfig {
  /** Request header whose value is the session key (lower case). */
  readonly header?: string | undefined;
  /** Cookie whose value is the session key; the header wins when both are present. */
  readonly cookie?: string | undefined;
  /** A binding expires this long after its last use. Default 30000 ms. */
  readonly ttlMs: number;
}

export const DEFAULT_AFFINITY_TTL_MS = 30_000;
export const DEFAULT_AFFINITY_MAX_ENTRIES = 10_000;

interface Binding { readonly replicaId: string; readonly expiresAt: number }

export class AffinityTable {
  // Map iteration order is insertion order; every use re-inserts, so the first entry is always the
  // least recently used, and (with one ttl for all) the first to expire.
  private readonly bindings = new Map<string, Binding>();

  constructor(readonly ttlMs: number, readonly maxEntries = DEFAULT_AFFINITY_MAX_ENTRIES) {
    if (!(ttlMs > 0)) throw new InvalidArgumentError(`'ttlMs' must be positive, got ${ttlMs}`);
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new InvalidArgumentError(`'maxEntries' must be a positive integer, got ${maxEntries}`);
  }

  get size(): number { return this.bindings.size; }

  /** The replica bound to `key`, refreshing its ttl; undefined when unbound or expired. */
  get(key: string, now: number): string | undefined {
    const b = this.bindings.get(key);
    if (!b) return undefined;
    this.bindings.delete(key);
    if (b.expiresAt <= now) return undefined;
    this.bindings.set(key, { replicaId: b.replicaId, expiresAt: now + this.ttlMs });
    return b.replicaId;
  }

  /** Binds `key` to `replicaId` (or rebinds it, when its replica could not take the call). */
  set(key: string, replicaId: string, now: number): void {
    this.bindings.delete(key);
    this.bindings.set(key, { replicaId, expiresAt: now + this.ttlMs });
    this.sweep(now);
    while (this.bindings.size > this.maxEntries) this.bindings.delete(this.bindings.keys().next().value!);
  }

  delete(key: string): void { this.bindings.delete(key); }

  /** Forgets every binding to a replica that was removed from the target. */
  forgetReplica(replicaId: string): void {
    for (const [key, b] of this.bindings) if (b.replicaId === replicaId) this.bindings.delete(key);
  }

  /** Drops expired bindings; they sit at the front, so this stops at the first live one. */
  sweep(now: number): void {
    for (const [key, b] of this.bindings) {
      if (b.expiresAt > now) break;
      this.bindings.delete(key);
    }
  }
}

export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The session key of a request under `config`, or undefined when it carries none. */
export function affinityKey(headers: RequestHeaders, config: Pick<AffinityConfig, 'header' | 'cookie'>): string | undefined {
  if (config.header !== undefined) {
    const v = first(headers[config.header.toLowerCase()]);
    if (v !== undefined && v !== '') return v;
  }
  if (config.cookie !== undefined) {
    const raw = headers['cookie'];
    const lines = raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
    for (const line of lines) {
      const v = cookieValue(line, config.cookie);
      if (v !== undefined && v !== '') return v;
    }
  }
  return undefined;
}

const first = (v: string | readonly string[] | undefined): string | undefined => (typeof v === 'string' ? v : v?.[0]);

/** One cookie's value from a Cookie header (RFC 6265 §4.2.1: `name=value` pairs split by "; "). */
function cookieValue(header: string, name: string): string | undefined {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let v = pair.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v;
  }
  return undefined;
}
