// One sluice node: config in, a listening gateway out. Wires the bus (NATS when configured, else an
// in-process LocalBus), metrics, the target runtimes and the gateway actor, and drains on stop.
// reload() applies a new config while serving (SIGHUP): see src/reload/plan.ts for what it keeps.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createActor, waitFor, type Actor } from 'xstate';
import { realClock, type Clock } from './clock.ts';
import type { Bus } from './bus/bus.ts';
import { LocalNetwork } from './bus/local-bus.ts';
import { NatsBus } from './bus/nats-bus.ts';
import type { CacheTier } from './actors/cache/cache-tier.ts';
import { CacheMetrics } from './actors/cache/cache-metrics.ts';
import { JetStreamTier } from './actors/cache/jetstream-tier.ts';

import type { Config, LimitConfig, TargetConfig } from './config/schema.ts';
import { newNodeId } from './ids.ts';
import { NodeMetrics } from './metrics.ts';
import { gatewayMachine } from './actors/gateway.ts';
import { TargetRuntime, type Predecessor, type TargetDeps } from './actors/target-runtime.ts';
import type { AccessLine, LogFn } from './log/logger.ts';
import { carryOverOf, planReload, type ReloadPlan } from './reload/plan.ts';
import { Membership } from './actors/membership.ts';
import { loadStrictEnforcerFactory, type StrictEnforcerFactory } from './actors/limits/enforcer-factory.ts';
import { LimitGossip } from './actors/limits/gossip.ts';
import { registerGossipMetrics } from './actors/limits/limit-metrics.ts';
import { StrictServer } from './actors/limits/strict-server.ts';
import { Singleton, singletonTimings } from './actors/singleton.ts';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from './limit/strict-ledger.ts';
import { COSTLY_LANDING_SHARE, doubleChargedShare, landingFor } from './actors/limits/strict-landing.ts';
import { InvalidConfigError } from './errors.ts';
import type { AdminNode } from './http/admin.ts';
import { createRequestHandler } from './http/server.ts';
import { DashboardFeed, type DashboardState } from './http/dashboard/feed.ts';
import { TargetTable } from './http/target-table.ts';
import { serveForwarded } from './http/forwarded.ts';
import { FleetScope } from './actors/fleet/fleet-scope.ts';
import { FleetMetrics } from './actors/fleet/fleet-metrics.ts';
import { DEFAULT_MAX_BODY_BYTES } from './config/schema.ts';

/** Each call to the cache's JetStream tier: a slower answer is a miss (the request goes upstream). */
const CACHE_TIER_TIMEOUT_MS = 1_000;

export interface NodeOptions {
  clock?: Clock;
  /** Use this bus instead of the one the config implies (the simulator's LocalNetwork endpoints). */
  bus?: Bus;
  random?: () => number;
  log?: LogFn;
  /** Receives one access line per proxied request (createNodeLog's `access`). */
  access?: (line: AccessLine) => void;
  /** The clock the dashboard samples on (default: the node's); tests step it to drive the charts. */
  dashboardClock?: Clock;
}

export class SluiceNode {
  readonly id: string;
  readonly clock: Clock;
  readonly metrics: NodeMetrics;
  readonly targets = new TargetTable();
  readonly membership: Membership;
  /** The one gossip loop of every approximate limit on this node. */
  readonly limitGossip: LimitGossip;
  private strictEnforcer: StrictEnforcerFactory | undefined;
  /** The strict-limit singleton: election over the bus, and the limiter it runs while this node holds. */
  readonly singleton: Singleton;
  private readonly strictServer: StrictServer;
  /** Fleet scope: key ownership and forwarding, for targets with `batch.scope: cluster`. */
  readonly fleet: FleetScope;
  private gateway: Actor<typeof gatewayMachine> | undefined;
  /** The dashboard's samples of every metric, and the pages watching them. */
  readonly dashboard: DashboardFeed;
  private draining = false;
  private readonly log: LogFn;
  /** Replaced runtimes still finishing their requests. */
  private readonly retiring = new Set<Promise<void>>();
  private current: Config;

  private constructor(config: Config, readonly bus: Bus, readonly busKind: 'local' | 'nats', private readonly opts: NodeOptions) {
    this.current = config;
    this.id = config.node.id ?? newNodeId();
    this.clock = opts.clock ?? realClock;
    this.metrics = new NodeMetrics({ node: this.id });
    this.log = opts.log ?? (() => {});
    this.membership = new Membership(bus, this.clock, {
      nodeId: this.id, cluster: config.cluster.name, heartbeatMs: config.cluster.heartbeatMs, deadAfterMs: config.cluster.deadAfterMs,
    });
    this.limitGossip = new LimitGossip(bus, this.clock, {
      nodeId: this.id, cluster: config.cluster.name, syncMs: config.cluster.syncMs, random: opts.random ?? Math.random, membership: this.membership,
      // Alone on its own in-process bus there is nobody to catch up with.
      ...(opts.bus || config.nats ? {} : { catchUpMs: 0 }),
    });
    registerGossipMetrics(this.metrics, this.limitGossip);
    // Alone on its own in-process bus no other node can hold: no election grace.
    this.singleton = new Singleton(bus, this.clock, this.membership, {
      nodeId: this.id, cluster: config.cluster.name, ...singletonTimings(config.cluster, !opts.bus && !config.nats),
      voters: config.cluster.voters, maxClockSkewMs: config.cluster.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS,
      longestWindowMs: () => longestStrictWindowMs(this.current),
      booksFile: config.cluster.booksDir && booksFileIn(config.cluster.booksDir, this.id),
    });
    this.singleton.registerMetrics(this.metrics);
    this.strictServer = new StrictServer(bus, this.clock, this.singleton, { cluster: config.cluster.name, maxClockSkewMs: config.cluster.maxClockSkewMs });
    this.fleet = new FleetScope(bus, this.clock, this.membership, {
      nodeId: this.id, cluster: config.cluster.name, suspectMs: config.cluster.deadAfterMs,
      timeoutMs: 500, // each forward carries its target's batch.forwardTimeoutMs
      maxBodyBytes: Math.max(DEFAULT_MAX_BODY_BYTES, ...config.targets.map((t) => t.maxBodyBytes)),
    }, FleetMetrics.for(this.metrics));
    this.fleet.serveWith({
      accepts: (name) => this.targets.get(name)?.config.batch.scope === 'cluster',
      serve: (req, res, gone) => serveForwarded(this.targets.get(req.target)!, req, res, gone, this.id, this.clock),
    });
    this.metrics.gauge('sluice_cluster_members', 'Live nodes this node sees, itself included', () => this.membership.table.size);
    this.metrics.gauge('sluice_bus_messages', 'Bus messages since start, by kind', () => [
      { labels: { kind: 'published' }, value: bus.stats.published },
      { labels: { kind: 'received' }, value: bus.stats.received },
      { labels: { kind: 'malformed' }, value: bus.stats.malformed },
      { labels: { kind: 'dropped' }, value: bus.stats.dropped },
    ], ['kind']);
    this.dashboard = new DashboardFeed(
      { metrics: () => this.metrics.registry.getMetricsAsJSON(), state: () => this.dashboardState() },
      opts.dashboardClock ?? this.clock, config.admin.dashboard,
    );
  }

  static async start(config: Config, opts: NodeOptions = {}): Promise<SluiceNode> {
    const clock = opts.clock ?? realClock;
    let bus = opts.bus;
    let kind: 'local' | 'nats' = 'local';
    if (!bus && config.nats) {
      const log = opts.log;
      bus = await NatsBus.connect({
        ...config.nats, name: `sluice-${config.node.id ?? 'node'}`,
        // Disconnects and reconnects are what an operator (and the fault tests) need to see.
        ...(log ? { onStatus: (st) => { if (st.type === 'disconnect' || st.type === 'reconnect') log(`bus ${st.type}`, { server: String(st.data) }); } } : {}),
      });
      kind = 'nats';
    }
    const node = new SluiceNode(config, bus ?? new LocalNetwork(clock).connect(config.node.id ?? 'local'), kind, opts);
    // Alone on its own in-process bus there is no cluster to report on.
    if (opts.bus || config.nats) node.logClusterEvents();
    node.membership.start();
    node.singleton.start();
    node.strictServer.start();
    node.strictEnforcer = await loadStrictEnforcerFactory();
    node.limitGossip.start();
    node.fleet.start();
    for (const t of config.targets) node.targets.set(node.runtimeFor(t));
    const strict = strictLimitsOf(config).length > 0;
    if (config.nats && strict && !config.cluster.voters) {
      // Say plainly what holds without a fixed voter set (docs/strict-limits.md, "A majority of what").
      node.log('strict limits without cluster.voters: exact through crashes and partitions shorter than max(12 × deadAfterMs, 60 s); a longer partition can elect two holders. Set cluster.voters to the voting node ids for exactness through any partition', { voters: null });
    }
    if (config.nats && strict && !config.cluster.booksDir) {
      // And what holds with the books in memory only (docs/strict-limits.md, "Rolling restarts").
      node.log('strict limits without cluster.booksDir: the books live in the voters\' memory; restart voters one at a time (wait for booksComplete in /_sluice/cluster). A majority restarted within one window loses its books (that window can see up to 2× the limit). Set cluster.booksDir to keep them on disk', { booksDir: null });
    }
    node.logCostlyLandingZones(config);
    node.dashboard.start();
    await node.listen();
    return node;
  }

  /**
   * Membership and singleton changes as log lines, with durations measured on this node's clock:
   * how long a member was silent when it was dropped, and how long this node knew no holder.
   */
  private logClusterEvents(): void {
    this.membership.onChange((c) => {
      if (c.type === 'member.joined') this.log('member joined', { member: c.id });
      else this.log('member left', { member: c.id, reason: c.reason, ...(c.silentMs !== undefined ? { silentMs: c.silentMs } : {}) });
    });
    let known = '';
    let seenOne = false;
    let lostAt: number | undefined;
    this.singleton.onChange(() => {
      const h = this.singleton.holder();
      const key = h ? `${h.id}/${h.term}` : '';
      if (key === known) return;
      const now = this.clock.now();
      if (!h) { lostAt ??= now; this.log('singleton holder unknown', { was: known }); }
      else {
        // The first holder a node learns of is no failover: only a gap after a known holder is one.
        this.log('singleton holder', { holder: h.id, term: h.term, ...(seenOne && lostAt !== undefined ? { withoutHolderMs: now - lostAt } : {}) });
        lostAt = undefined;
        seenOne = true;
      }
      known = key;
    });
  }

  /** The config the node runs: the last one loaded, with targets as the admin API left them. */
  get config(): Config { return { ...this.current, targets: this.targets.list().map((t) => t.config) }; }

  get port(): number { return this.gateway?.getSnapshot().context.port ?? 0; }
  get url(): string { return `http://${this.config.node.host}:${this.port}`; }

  /**
   * Applies a new config (already validated) while serving: targets added, removed, or replaced by a
   * runtime that keeps the unchanged parts' state; nothing in flight is dropped. Keys that need a
   * restart (node id, host, port, cluster, nats) are returned in `restartNeeded`, not applied.
   */
  reload(file: Config): ReloadPlan {
    const plan = planReload(this.config, file);
    for (const t of plan.added) this.targets.set(this.runtimeFor(t));
    for (const { config, carry } of plan.changed) {
      const old = this.targets.get(config.name)!;
      this.targets.set(this.runtimeFor(config, { runtime: old, carry }));
      this.retire(old);
    }
    for (const name of plan.removed) {
      const old = this.targets.delete(name);
      if (old) this.retire(old);
    }
    this.current = plan.next;
    return plan;
  }

  /** Resolves once every replaced runtime has finished its requests and closed (tests, stop). */
  async retired(): Promise<void> {
    while (this.retiring.size > 0) await Promise.all([...this.retiring]);
  }

  private retire(old: TargetRuntime): void {
    const p = old.retire(this.current.node.drainMs)
      .catch((err: unknown) => this.log('closing a replaced target failed', { target: old.name, error: String((err as Error)?.stack ?? err) }))
      .finally(() => this.retiring.delete(p));
    this.retiring.add(p);
  }

  private runtimeFor(t: TargetConfig, from?: Predecessor): TargetRuntime {
    const deps: TargetDeps = {
      nodeId: this.id, clusterName: this.config.cluster.name, clock: this.clock, bus: this.bus,
      metrics: this.metrics, random: this.opts.random ?? Math.random, membership: this.membership, cluster: this.config.cluster,
      limitGossip: this.limitGossip, createStrictEnforcer: this.strictEnforcer, singleton: this.singleton, log: this.log,
      fleet: this.fleet,
      cacheTier: (target) => this.cacheTierFor(target),
    };
    return new TargetRuntime(t, deps, from);
  }

  /** The JetStream tier of a target's cache: one bucket per cluster and target, on the node's NATS connection. */
  private cacheTierFor(t: TargetConfig): CacheTier | undefined {
    const bus = this.bus;
    if (!(bus instanceof NatsBus)) {
      this.log('cache: store "jetstream" needs a nats section; serving from memory alone', { target: t.name });
      return undefined;
    }
    const errors = CacheMetrics.for(this.metrics).tierErrors;
    return new JetStreamTier({
      target: t.name, clock: this.clock, log: this.log, onError: (op) => errors.inc({ target: t.name, op }),
      open: () => bus.openKv(`sluice_${this.config.cluster.name}_cache_${t.name}`, {
        ttlMs: t.cache.jetstreamTtlMs, replicas: t.cache.jetstreamReplicas, timeoutMs: CACHE_TIER_TIMEOUT_MS,
      }),
    });
  }

  private async listen(): Promise<void> {
    const { host, port, drainMs, maxConnections, requestTimeoutMs } = this.config.node;
    this.gateway = createActor(gatewayMachine, {
      input: {
        host, port, drainMs, maxConnections, requestTimeoutMs, clock: this.clock,
        handler: createRequestHandler({
          nodeId: this.id, clock: this.clock, metrics: this.metrics, targets: this.targets,
          admin: this.adminView(), isDraining: () => this.draining, log: this.log,
          ...(this.opts.access ? { access: this.opts.access } : {}),
        }),
        onClientError: (reason) => this.metrics.httpRejected.inc({ reason }),
      },
    }).start();
    const snap = await waitFor(this.gateway, (s) => s.value !== 'starting');
    if (snap.value === 'failed') {
      await this.bus.close();
      throw new InvalidConfigError([{ path: 'node.port', value: port, expected: `a port this node can listen on (${snap.context.error})` }]);
    }
  }

  private adminView(): AdminNode {
    const node = this;
    return {
      get adminToken() { return node.current.admin.token; }, // a reload may change it
      isReady: () => !this.draining && this.gateway?.getSnapshot().value === 'listening' && !(this.bus instanceof NatsBus && this.bus.isClosed),
      metricsText: async () => ({ contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
      listTargets: () => this.targets.list().map((t) => t.describe()),
      describeTarget: (name) => this.targets.get(name)?.describe(),
      targetPolicy: (name) => this.targets.get(name)?.batching?.adaptive,
      putTarget: async (config) => {
        const clash = this.targets.prefixOwner(config.prefix, config.name);
        if (clash) throw new InvalidConfigError([{ path: 'prefix', value: config.prefix, expected: `a prefix not served by target ${clash.name}` }], `target ${config.name}`);
        // The same path as a reload: unchanged parts keep their state, in-flight requests finish.
        const old = this.targets.get(config.name);
        this.targets.set(this.runtimeFor(config, old ? { runtime: old, carry: carryOverOf(old.config, config) } : undefined));
        if (old) this.retire(old);
        this.log('target registered', { target: config.name, replaced: !!old });
        return !!old;
      },
      deleteTarget: async (name) => {
        const old = this.targets.delete(name);
        if (old) this.retire(old);
        return !!old;
      },
      targetCache: (name) => {
        const t = this.targets.get(name);
        return t === undefined ? undefined : t.cache ?? null;
      },
      cluster: () => this.clusterView(),
      dashboard: this.dashboard,
    };
  }

  // A strict window's landing zones (docs/strict-limits.md, "Window edges") are sized by the clock
  // skew, not the window: with short windows and the default skew they cost a fair share of the limit.
  private logCostlyLandingZones(config: Config): void {
    const skew = config.cluster.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    for (const { target, limit: l } of strictLimitsOf(config)) {
      const zones = landingFor(l.windowMs, skew, l.landingMs);
      const share = doubleChargedShare(zones);
      if (share <= COSTLY_LANDING_SHARE) continue;
      this.log(`strict limit ${target}/${l.name}: calls in ${Math.round(share * 100)}% of each ${l.windowMs} ms window (its last ${zones.landingMs} ms and the next one's first ${zones.skewMs} ms) are charged to both windows they may land in, so a steady load gets about ${Math.floor(l.limit / (1 + share))} of ${l.limit}. Set cluster.maxClockSkewMs to the real clock skew (and limits[].landingMs to the real travel time) to shrink the zones`, {
        target, limit: l.name, windowMs: l.windowMs, landingMs: zones.landingMs, skewMs: zones.skewMs,
      });
    }
  }

  private clusterView() {
    return {
      node: this.id, cluster: this.config.cluster.name, nodes: this.membership.liveIds(), singleton: this.singleton.holder()?.id ?? null,
      booksComplete: this.singleton.booksComplete(),
    };
  }

  private dashboardState(): DashboardState {
    return {
      ...this.clusterView(),
      targets: this.targets.list().map(({ config: t }) => ({
        name: t.name, prefix: t.prefix, mode: t.batch.mode, replicas: t.replicas, cache: t.cache.enabled,
        limits: t.limits.map((l) => ({ name: l.name, dimension: l.dimension, limit: l.limit, windowMs: l.windowMs, mode: l.mode, per: l.per })),
      })),
    };
  }

  /** Stops accepting, finishes in-flight requests up to node.drainMs, then closes everything. */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.dashboard.stop(); // open dashboard streams must not hold the drain
    if (this.gateway) {
      this.gateway.send({ type: 'drain' });
      await waitFor(this.gateway, (s) => s.status === 'done', { timeout: this.config.node.drainMs + 5_000 }).catch(() => {});
      this.gateway.stop();
    }
    await Promise.all(this.targets.list().map((t) => t.close()));
    await this.retired();
    // After the targets gave their leases back (this node may be the holder they gave them to).
    this.fleet.stop();
    this.strictServer.stop();
    this.singleton.stop();
    this.limitGossip.stop();
    this.membership.stop();
    await this.bus.close();
  }
}

/** Every strict limit of every target, with its target's name. */
function strictLimitsOf(config: Config): { target: string; limit: LimitConfig }[] {
  return config.targets.flatMap((t) => t.limits.filter((l) => l.mode === 'strict').map((limit) => ({ target: t.name, limit })));
}

/** The longest strict window of any target, ms (0: no strict limit). */
function longestStrictWindowMs(config: Config): number {
  return Math.max(0, ...strictLimitsOf(config).map((s) => s.limit.windowMs));
}

/** This node's books file in cluster.booksDir (the directory is made if missing). */
function booksFileIn(dir: string, nodeId: string): string {
  mkdirSync(dir, { recursive: true });
  return join(dir, `${nodeId}.books.jsonl`);
}
