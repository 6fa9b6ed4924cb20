// The cache key is the coalesce key: method, path, query, the target's `vary` headers, the caller's
// credentials unless the target is public, and the body's hash (POST, when `cache.methods` lists it).
// Sharing one key function is what makes "a miss is the flight" hold: a request that misses joins the
// flight of exactly the requests whose answer it may later be served.
import { coalesceKey } from '../batch/index.ts';
import type { BatchKey, KeyedRequest, KeyOptions } from '../batch/index.ts';

export type CacheKey = BatchKey;

export const cacheKey = (req: KeyedRequest, opts: KeyOptions): CacheKey => coalesceKey(req, opts);

/** The URL part invalidation and purge work on: every key of one path and query, whoever asked. */
export const cacheUrl = (path: string, query: string): string => (query ? `${path}?${query}` : path);
