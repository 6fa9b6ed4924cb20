// The config schema: every key of DESIGN.md's contract, its unit and its default.
// Parsed once at startup (and for each runtime target registration) into frozen, typed values;
// unknown keys are errors so a typo never silently falls back to a default.
import { z } from 'zod';

const ms = (def: number) => z.number().int().nonnegative().default(def);
const positiveMs = (def: number) => z.number().int().positive().default(def);
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name').transform((s) => s.toLowerCase());
const httpUrl = z.string().refine((s) => { try { return /^https?:$/.test(new URL(s).protocol); } catch { return false; } }, 'an http:// or https:// URL');

export const DEFAULT_PORT = 8080;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export const nodeSchema = z.strictObject({
  /** Optional; a random `node-…` id when absent. */
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -').optional(),
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 asks the OS for a free port. */
  port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  /** How long SIGTERM waits for in-flight requests before closing them. */
  drainMs: ms(10_000),
  /** Open client sockets at most; beyond it a new one is closed at once and counted. */
  maxConnections: z.number().int().positive().default(10_000),
  /** How long a client may take to send its whole request, headers and body (408 after), ms; 0 for no bound. */
  requestTimeoutMs: ms(60_000),
});

export const clusterSchema = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ -').default('default'),
  heartbeatMs: positiveMs(1_000),
  deadAfterMs: positiveMs(5_000),
  /** Gossip interval of the approximate limiter's deltas. */
  syncMs: positiveMs(100),
  maxClockSkewMs: z.number().int().nonnegative().optional(), // ms between any two clocks; default 250 (strict failover fence)
  /** Strict limits: the fixed voter set (node ids) whose majority elects the holder and holds its books. Unset: every live member votes. */
  voters: z.array(z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -')).min(1).optional(),
  /** Strict limits: a directory where each voter keeps its copy of the books (<node id>.books.jsonl), so a whole-cluster restart keeps the window's books. Unset: memory only. */
  booksDir: z.string().min(1).optional(),
});

export const natsSchema = z.strictObject({
  servers: z.array(z.string().min(1)).min(1),
  token: z.string().min(1).optional(),
  user: z.string().min(1).optional(),
  pass: z.string().min(1).optional(),
});

export const logSchema = z.strictObject({
  /** pino level; SLUICE_LOG_LEVEL overrides it. */
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** One JSON access line per proxied request (at level info). */
  access: z.boolean().default(true),
});

export const adminSchema = z.strictObject({
  /** When set, every /_sluice/ call needs `Authorization: Bearer <token>`. */
  token: z.string().min(1).optional(),
  /** The dashboard at /_sluice/: one sample of every metric each `sampleMs`, the last `points` kept (5 min). */
  dashboard: z.strictObject({ sampleMs: positiveMs(1000), points: z.number().int().min(2).max(3600).default(300) }).prefault({}),
});

const MERGE_DEFAULT_METHODS = ['POST'];
export const DEFAULT_COALESCE_MAX_WAIT_MS = 0;
export const DEFAULT_MERGE_MAX_WAIT_MS = 20;
export const DEFAULT_MAX_JOIN_BYTES = 8 * 1024 * 1024;
const COALESCE_DEFAULT_METHODS = ['GET', 'HEAD'];

export const batchSchema = z.strictObject({
  mode: z.enum(['coalesce', 'merge', 'none']).default('coalesce'),
  /** Methods batched by `mode`; others pass through. Default: GET, HEAD for coalesce; POST for merge. */
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'an upper-case HTTP method')).optional(),
  /** Hold before the first call of a slot. Default: 0 for coalesce (joins need no hold: they join the call in flight), 20 for merge. */
  maxWaitMs: z.number().int().nonnegative().optional(),
  /** Bytes of a coalesced reply body kept for requests joining mid-body; past it they open a new call. Default 8 MiB. */
  maxJoinBytes: z.number().int().nonnegative().default(DEFAULT_MAX_JOIN_BYTES),
  maxBatchSize: z.number().int().positive().default(128),
  maxClientWaitMs: positiveMs(30_000),
  policy: z.enum(['timer', 'adaptive', 'agent']).default('timer'),
  /** `json-array`, `keyed`, or a module path exporting merge and split. */
  merge: z.string().min(1).default('json-array'),
  /** Ask budget of the `agent` policy before falling back to the guards. */
  agentTimeoutMs: positiveMs(5),
  /** The `adaptive` policy's reward (docs/policies.md) and learning. */
  adaptive: z.strictObject({
    /** What one ms of added client latency costs, in lone upstream calls. Default 0.01 (100 ms = one call). */
    latencyCostPerMs: z.number().positive().default(0.01),
    /** A batch of n costs n^e calls. Default 0 for coalesce (one call answers all), 0.5 for merge. */
    batchCostExponent: z.number().min(0).max(1).optional(),
    /** Weight of each flushed slot in the learned join share, in (0, 1]. Default 0.05. */
    learningRate: z.number().positive().max(1).default(0.05),
    /** Half-life of each key's arrival-rate estimate. Default 250 ms. */
    rateHalfLifeMs: positiveMs(250),
    /** How often learned state is shared with the cluster over the bus; 0 = never. Default 5 000 ms. */
    shareMs: ms(5_000),
  }).default({ latencyCostPerMs: 0.01, learningRate: 0.05, rateHalfLifeMs: 250, shareMs: 5_000 }),
  /** Per-flush telemetry on `sluice.<cluster>.telemetry.batch.<target>`, for learners. */
  telemetry: z.strictObject({
    /** Share of flushes published, in [0, 1]. Default 0.1. */
    sampleRate: z.number().min(0).max(1).default(0.1),
    /** At most this many records per second per target. Default 20. */
    maxPerSecond: z.number().min(0).default(20),
  }).default({ sampleRate: 0.1, maxPerSecond: 20 }),
  /** `node`: each node coalesces alone. `cluster`: one call per key per cluster, made by the key's owner (docs/batching.md). */
  scope: z.enum(['node', 'cluster']).default('node'),
  /** Cluster scope: how long an owner may stay silent (ack, then between its keep-alives) before this node calls itself. */
  forwardTimeoutMs: z.number().int().min(150, 'at least 150 ms (three of the owner\'s 50 ms keep-alives)').default(500),
}).refine((b) => b.scope === 'node' || b.mode === 'coalesce', { path: ['scope'], message: '"node" unless mode is "coalesce" (only identical requests are forwarded to an owner)' })
  .transform((b) => ({
    ...b,
    methods: b.methods ?? (b.mode === 'merge' ? MERGE_DEFAULT_METHODS : COALESCE_DEFAULT_METHODS),
    maxWaitMs: b.maxWaitMs ?? (b.mode === 'merge' ? DEFAULT_MERGE_MAX_WAIT_MS : DEFAULT_COALESCE_MAX_WAIT_MS),
  }));

const perSchema = z.union([
  z.literal('target'),
  z.literal('ip'),
  z.strictObject({ header: headerName }),
], { error: '"target", "ip" or { "header": NAME }' });

export const prefetchSchema = z.strictObject({
  predictWindowMs: positiveMs(1_000),
  minPrefetch: z.number().int().positive().default(10),
  closeWaitMs: ms(500),
});

export const limitSchema = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ -'),
  dimension: z.enum(['requests', 'tokens']).default('requests'),
  per: perSchema.default('target'),
  limit: z.number().int().positive(),
  windowMs: positiveMs(60_000),
  mode: z.enum(['approximate', 'strict']).default('approximate'),
  onLimit: z.enum(['queue', 'reject']).default('reject'),
  maxQueueMs: ms(10_000),
  /** What a node does when it sees no peers or its gossip is older than `staleMs`. */
  degraded: z.enum(['safe-share', 'fail-closed', 'fail-open']).default('safe-share'),
  /** false = shadow mode: count what would be refused, refuse nothing. */
  enforce: z.boolean().default(true),
  /** Gossip older than this puts the limit in degraded mode. Default: 5 × cluster.syncMs. */
  staleMs: z.number().int().positive().optional(),
  /** Request header carrying the caller's token estimate (tokens dimension). */
  tokenHeader: headerName.default('x-token-estimate'),
  prefetch: prefetchSchema.prefault({}),
  /**
   * Strict: no permit is spent in the first or last edgeMs of its window, so a call lands at the
   * upstream inside the window it was admitted in. Set it to at least the clock skew to the upstream
   * plus the call's travel time. Default 0 (windows by this node's clock only).
   */
  edgeMs: ms(0),
  /**
   * Strict: a call lands at the upstream at most this long after it is admitted (clock skew to the
   * upstream + travel). One admitted that close to its window's end (or within maxClockSkewMs after its
   * start) is charged to both windows it may land in. Default: cluster.maxClockSkewMs + 2% of the
   * window (at most 100 ms), capped so the two zones stay under half a window (strict-landing.ts).
   */
  landingMs: z.number().int().nonnegative().optional(),
});

export const paceSchema = z.strictObject({
  quota: z.number().int().positive(),
  windowMs: positiveMs(60_000),
});

export const breakerSchema = z.strictObject({
  consecutiveFailures: z.number().int().positive().default(5),
  failureRate: z.number().gt(0).max(1).default(0.5),
  windowMs: positiveMs(10_000),
  minCalls: z.number().int().positive().default(20),
  slowCallMs: positiveMs(5_000),
  /** Share of slow calls (over the window) that opens the breaker; 1 = never on slowness alone. */
  slowCallRate: z.number().gt(0).max(1).default(1),
  openMs: positiveMs(1_000),
  maxOpenMs: positiveMs(30_000),
  probes: z.number().int().positive().default(1),
  halfOpenMaxMs: positiveMs(10_000),
  /** Count 429 answers as failures. */
  failOn429: z.boolean().default(false),
});

export const retrySchema = z.strictObject({
  /** Total tries including the first; 1 disables retry. */
  attempts: z.number().int().positive().default(3),
  baseMs: positiveMs(50),
  maxMs: positiveMs(2_000),
  /** Retries allowed as a share of calls over the last 10 s. */
  budget: z.number().min(0).max(1).default(0.2),
  /** Give up retrying once this much time has passed since the first try. */
  maxTotalMs: positiveMs(10_000),
});

export const dispatchSchema = z.strictObject({
  /** In-flight calls per replica. */
  concurrency: z.number().int().positive().default(64),
  /** Calls waiting per replica beyond `concurrency`; a full queue answers 503. */
  queue: z.number().int().nonnegative().default(256),
  affinity: z.strictObject({
    header: headerName.optional(),
    cookie: z.string().min(1).optional(),
    ttlMs: positiveMs(30_000),
  }).optional(),
});

/** Response cache (RFC 9111 shared cache, see docs/cache.md); off unless `enabled`. */
export const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Bytes held (bodies + headers), least recently used evicted first; per target and node. */
  maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
  /** A larger answer is served but not stored. */
  maxEntryBytes: z.number().int().positive().default(8 * 1024 * 1024),
  /** Freshness when the answer gives none (respect), or always (ignore). 0 = none. */
  ttlMs: ms(0),
  upstreamHeaders: z.enum(['respect', 'ignore']).default('respect'),
  /** Methods whose answers are stored; POST is keyed by the body's hash. */
  methods: z.array(z.enum(['GET', 'HEAD', 'POST'])).min(1).default(['GET', 'HEAD']),
  staleWhileRevalidateMs: ms(0),
  staleIfErrorMs: ms(0),
  /** `jetstream` adds a tier in a NATS JetStream bucket shared by the fleet (needs `nats`). */
  store: z.enum(['memory', 'jetstream']).default('memory'),
  /** JetStream tier: the bucket's max age, and its replicas (≤ NATS servers). */
  jetstreamTtlMs: positiveMs(86_400_000),
  jetstreamReplicas: z.number().int().min(1).max(5).default(3),
}).refine((c) => c.maxEntryBytes <= c.maxBytes, { message: 'maxEntryBytes no larger than maxBytes', path: ['maxEntryBytes'] });

export const targetSchema = z.strictObject({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ -'),
  prefix: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%\/-]*$/, 'a path starting with /')
    .refine((p) => p === '/' || !p.endsWith('/'), 'a path without a trailing /')
    .refine((p) => !p.startsWith('/_sluice'), 'a path outside /_sluice (reserved for admin)'),
  replicas: z.array(httpUrl.transform((u) => u.replace(/\/+$/, ''))).min(1),
  timeoutMs: positiveMs(DEFAULT_TIMEOUT_MS),
  maxBodyBytes: z.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
  /** Responses may be shared across different Authorization/Cookie values. */
  public: z.boolean().default(false),
  vary: z.array(headerName).default([]),
  batch: batchSchema.prefault({}),
  limits: z.array(limitSchema).default([]).refine(
    (ls) => new Set(ls.map((l) => l.name)).size === ls.length, 'limits with distinct names'),
  pace: paceSchema.optional(),
  breaker: breakerSchema.prefault({}),
  retry: retrySchema.prefault({}),
  dispatch: dispatchSchema.prefault({}),
  cache: cacheSchema.prefault({}),
});

export const configSchema = z.strictObject({
  node: nodeSchema.prefault({}),
  cluster: clusterSchema.prefault({}),
  nats: natsSchema.optional(),
  admin: adminSchema.prefault({}),
  log: logSchema.prefault({}),
  targets: z.array(targetSchema).default([]),
}).superRefine((c, ctx) => {
  const names = new Set<string>();
  const prefixes = new Set<string>();
  c.targets.forEach((t, i) => {
    if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: 'a target name not used by another target', input: t.name });
    if (prefixes.has(t.prefix)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'prefix'], message: 'a prefix not used by another target', input: t.prefix });
    names.add(t.name);
    prefixes.add(t.prefix);
  });
});

export type Config = z.output<typeof configSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type LimitConfig = z.output<typeof limitSchema>;
export type BatchConfig = z.output<typeof batchSchema>;
export type BreakerConfig = z.output<typeof breakerSchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type DispatchConfig = z.output<typeof dispatchSchema>;
export type CacheConfig = z.output<typeof cacheSchema>;
export type PaceConfig = z.output<typeof paceSchema>;
export type NatsConfig = z.output<typeof natsSchema>;
