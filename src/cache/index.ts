// What other folders may import from src/cache: the pure parts of the response cache (key, store,
// RFC 9111/5861 decisions, invalidation, RFC 9211 Cache-Status). No clock, no I/O.
export { cacheStatus, CACHE_NAME, Fwd } from './cache-status.ts';
export { cacheKey, cacheUrl } from './cache-key.ts';
export { ageMs, entryBytes, ttlMs } from './entry.ts';
export { invalidatedUrls } from './invalidation.ts';
export { conditionalHeaders, isErrorStatus, lookup, servedHeaders, staleIfError, varyMatches } from './lookup.ts';
export { refreshWith304 } from './refresh.ts';
export { DEFAULT_CACHE_RULES, flattenHeaders } from './rules.ts';
export { CacheStore, MAX_VARIANTS } from './store.ts';
export { decideStore, NotStored } from './store-decision.ts';

export type { CacheStatusParts } from './cache-status.ts';
export type { CacheKey } from './cache-key.ts';
export type { CachedEntry, Headers } from './entry.ts';
export type { InvalidationInput } from './invalidation.ts';
export type { Lookup } from './lookup.ts';
export type { Refresh } from './refresh.ts';
export type { CacheRequest, CacheResponse, CacheRules } from './rules.ts';
export type { PutResult, StoreOptions } from './store.ts';
export type { StoreDecision, StoreInput } from './store-decision.ts';
export { decodeVariants, encodeVariants } from './serialize.ts';
