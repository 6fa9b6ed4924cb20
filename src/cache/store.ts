// The memory tier: stored answers by key, least recently used evicted first once `maxBytes` is
// held (lru-cache by size). One key holds up to MAX_VARIANTS answers told apart by the response's
// Vary (the secondary key), most recent first. An index from URL to keys serves invalidation and
// purge, which must reach every user's entry of one URL. No clock, no I/O.
import { LRUCache } from 'lru-cache';
import { entryBytes, type CachedEntry } from './entry.ts';

export interface StoreOptions {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  /** Told each entry evicted to make room (not those deleted or replaced). */
  readonly onEvict?: (entry: CachedEntry) => void;
}

/** More variants than this under one key is a Vary on something near-unique: the oldest go. */
export const MAX_VARIANTS = 8;

export type PutResult = 'stored' | 'too-big';

export class CacheStore {
  private readonly lru: LRUCache<string, readonly CachedEntry[]>;
  private readonly byUrl = new Map<string, Set<string>>();
  private readonly keyUrl = new Map<string, string>();

  constructor(private readonly opts: StoreOptions) {
    this.lru = new LRUCache<string, readonly CachedEntry[]>({
      maxSize: opts.maxBytes,
      sizeCalculation: (vs) => Math.max(1, vs.reduce((n, e) => n + entryBytes(e), 0)),
      dispose: (vs, key, reason) => {
        if (reason === 'set') return; // replaced by put(), which keeps the index
        this.unindex(key);
        if (reason === 'evict') for (const e of vs) opts.onEvict?.(e);
      },
    });
  }

  /** The variants under a key, most recent first; marks the key recently used. */
  get(key: string): readonly CachedEntry[] {
    return this.lru.get(key) ?? [];
  }

  /** Adds or replaces the entry whose secondary key (Vary values) matches. */
  put(entry: CachedEntry): PutResult {
    if (entryBytes(entry) > this.opts.maxEntryBytes || entryBytes(entry) > this.opts.maxBytes) return 'too-big';
    const same = (v: CachedEntry) => v.vary.join(',') === entry.vary.join(',') && v.varyValues.every((x, i) => x === entry.varyValues[i]);
    const rest = this.get(entry.key).filter((v) => !same(v));
    this.lru.set(entry.key, [entry, ...rest].slice(0, MAX_VARIANTS));
    let keys = this.byUrl.get(entry.url);
    if (!keys) this.byUrl.set(entry.url, keys = new Set());
    keys.add(entry.key);
    this.keyUrl.set(entry.key, entry.url);
    return 'stored';
  }

  /** Drops one variant (a 304 that forbids storing, an entry found broken). */
  remove(entry: CachedEntry): void {
    const rest = this.get(entry.key).filter((v) => v !== entry);
    if (rest.length) this.lru.set(entry.key, rest);
    else this.lru.delete(entry.key);
  }

  /** Every entry of one URL (path?query), whoever asked it; returns the number of keys dropped. */
  invalidate(url: string): number {
    const keys = [...(this.byUrl.get(url) ?? [])];
    for (const k of keys) this.lru.delete(k);
    return keys.length;
  }

  /** `path` with a query drops that URL; without one, every query of the path. */
  purgePath(path: string): number {
    if (path.includes('?')) return this.invalidate(path);
    let n = 0;
    for (const url of [...this.byUrl.keys()]) if (url === path || url.startsWith(`${path}?`)) n += this.invalidate(url);
    return n;
  }

  clear(): number {
    const n = this.lru.size;
    this.lru.clear();
    return n;
  }

  /** Keys held, answers held (variants) and bytes held. */
  stats(): { keys: number; entries: number; bytes: number } {
    let entries = 0;
    for (const vs of this.lru.values()) entries += vs.length;
    return { keys: this.lru.size, entries, bytes: this.lru.calculatedSize };
  }

  private unindex(key: string): void {
    const url = this.keyUrl.get(key);
    if (url === undefined) return;
    this.keyUrl.delete(key);
    const keys = this.byUrl.get(url);
    keys?.delete(key);
    if (keys && keys.size === 0) this.byUrl.delete(url);
  }
}
