// A replicated key-value bucket as the rest of sluice sees it (the response cache's shared tier).
// NatsBus provides one over JetStream (src/bus/nats-kv.ts); nothing else imports `nats`.
export interface KvBucketOptions {
  /** Messages older than this are dropped by the server (the bucket's max age). */
  readonly ttlMs: number;
  /** Copies kept by the NATS cluster (1, 3 or 5; no more than its servers). */
  readonly replicas: number;
  /** Each call's deadline. */
  readonly timeoutMs: number;
}

/** Keys: `[-/_=.a-zA-Z0-9]+`. Every call may reject (server down, no JetStream): callers contain it. */
export interface KvBucket {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys matching a subject filter (`prefix.>`), or all. */
  keys(filter?: string): Promise<string[]>;
}
