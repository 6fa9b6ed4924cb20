// A second, shared tier under a target's memory cache (JetStream today). Contract: every method is
// best effort — it resolves, never rejects; a tier that is down behaves as an empty one and says so
// through `available`, so a request never fails because the shared tier did.
import type { CachedEntry } from '../../cache/index.ts';

export interface CacheTier {
  /** False while the tier cannot be reached (the node then serves from memory alone). */
  readonly available: boolean;
  /** Every variant stored under `key`, or none. */
  get(key: string, url: string): Promise<CachedEntry[]>;
  /** Replaces what is stored under the variants' key. */
  put(key: string, url: string, variants: readonly CachedEntry[]): Promise<void>;
  /** Drops every key stored under one URL (path?query), or, with `wholePath`, every query of a path. */
  deleteUrl(url: string): Promise<void>;
  clear(): Promise<void>;
  close(): Promise<void>;
  /** Resolves once the tier's latest attempt to connect has finished, either way. */
  ready?(): Promise<void>;
}
