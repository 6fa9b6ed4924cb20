// A target's batching, built from its `batch` config: the registry of slots, the executor for its
// mode (coalesce or merge) and the flush policy. Mode `none` builds nothing: every request passes
// through. The HTTP side (src/http/coalesce.ts, merge.ts) reads what it needs from here — the
// registry, the answered-waiter counter, the key headers — and writes what the batch answers: this
// module never sees a response.
import type { AdaptivePolicy, MergeStrategy } from '../../batch/index.ts';
import { createAdaptivePolicy, CREDENTIAL_HEADERS, loadMergeStrategy, timerPolicy } from '../../batch/index.ts';
import { realScheduler } from '../../clock.ts';
import { BatchRegistry, type BatchRegistryHooks, type SlotPolicy } from '../batch-registry.ts';
import type { TargetCalls } from '../target-parts.ts';
import type { TargetDeps } from '../target-deps.ts';
import { createAgentPolicy } from './agent-policy.ts';
import { BatchMetrics } from './batch-metrics.ts';
import { sharePolicyState, type PolicyShare } from './policy-share.ts';
import { telemetryPublisher } from './policy-telemetry.ts';
import { coalesceExecutor, type CoalesceDeps } from './coalesce-batch.ts';
import { mergeExecutor, type MergeDeps } from './merge-batch.ts';

interface BatchingBase {
  /** The registry, for tests and the admin view. */
  readonly registry: BatchRegistry<unknown, unknown>;
  /** The learning policy, when `batch.policy` is `adaptive`: its state is read and loaded by the admin API. */
  readonly adaptive: AdaptivePolicy | undefined;
  /** Whether `method` is batched here (`batch.methods`); others pass through. */
  handles(method: string): boolean;
  describe(): Record<string, unknown>;
  /** Flushes what waits and resolves once every slot has answered. */
  close(): Promise<void>;
}

export interface CoalesceBatching extends BatchingBase {
  readonly mode: 'coalesce';
  readonly coalesce: CoalesceDeps;
}

export interface MergeBatching extends BatchingBase {
  readonly mode: 'merge';
  readonly merge: MergeDeps;
}

export type Batching = CoalesceBatching | MergeBatching;

export function createBatching(target: TargetCalls, deps: TargetDeps): Batching | undefined {
  const { batch } = target.config;
  if (batch.mode === 'none') return undefined;
  const mode = batch.mode;
  const metrics = BatchMetrics.for(deps.metrics);
  const count = metrics.answeredCounter(target.name, mode);
  const onFault = (what: string, error: unknown): void =>
    deps.log?.('batching fault contained', { target: target.name, what, error: String((error as Error)?.stack ?? error) });
  // Labelled children made once per value, not per slot: each holds its series (hot-metrics.ts).
  const byReason = memo((reason: string) => metrics.flushes.child({ target: target.name, mode, reason }));
  const byOutcome = memo((outcome: string) => metrics.slots.child({ target: target.name, mode, outcome }));
  const byPhase = memo((phase: string) => metrics.joinsInFlight.child({ target: target.name, mode, phase }));
  const sizes = metrics.batchSize.child({ target: target.name, mode });
  const saved = metrics.callsSaved.child({ target: target.name, mode });
  const hooks: BatchRegistryHooks = {
    onFlush: (reason, size) => {
      byReason(reason).inc();
      sizes.observe(size);
    },
    onSlotDone: (outcome, n) => {
      byOutcome(outcome).inc();
      if (n > 0) saved.inc(n);
    },
    onJoinInFlight: (phase) => byPhase(phase).inc(),
    onFault,
  };
  const telemetry = telemetryPublisher({
    bus: deps.bus, cluster: deps.clusterName, nodeId: deps.nodeId, target: target.name, clock: deps.clock, random: deps.random,
    sampleRate: batch.telemetry.sampleRate, maxPerSecond: batch.telemetry.maxPerSecond,
  });
  if (telemetry) hooks.onOutcome = telemetry;
  const policy = policyFor(target, deps, () => metrics.policyFallbacks.inc({ target: target.name }));
  const adaptive = policy.name === 'adaptive' ? policy as AdaptivePolicy : undefined;
  const share: PolicyShare | undefined = adaptive && batch.adaptive.shareMs > 0 ? sharePolicyState({
    bus: deps.bus, cluster: deps.clusterName, nodeId: deps.nodeId, target: target.name, policy: adaptive, clock: deps.clock,
    shareMs: batch.adaptive.shareMs,
  }) : undefined;
  const common = {
    clock: deps.clock, afterTurn: deps.afterTurn ?? realScheduler, maxWaitMs: batch.maxWaitMs, maxBatchSize: batch.maxBatchSize, hooks, policy,
  };
  const methods = new Set(batch.methods);
  const base = (registry: BatchRegistry<unknown, unknown>): BatchingBase => {
    const untrack = metrics.track({ target: target.name, get liveSlots() { return registry.liveSlots; } });
    return {
      registry,
      adaptive,
      handles: (method) => methods.has(method),
      describe: () => ({
        mode, maxWaitMs: batch.maxWaitMs, maxJoinBytes: batch.maxJoinBytes, ...registry.describe(), ...(adaptive ? { learned: adaptive.learned } : {}),
      }),
      close: async () => {
        share?.stop();
        await registry.close();
        untrack();
      },
    };
  };
  if (mode === 'coalesce') {
    const registry = new BatchRegistry({
      ...common,
      joinInFlight: true,
      executor: coalesceExecutor(target, {
        maxJoinBytes: batch.maxJoinBytes, onFault,
        fleet: batch.scope === 'cluster' ? deps.fleet : undefined,
      }),
    });
    const keyHeaders = [...target.config.vary, ...(target.config.public ? [] : CREDENTIAL_HEADERS)];
    const coalesce: CoalesceDeps = {
      registry, count, clock: deps.clock, keyHeaders,
    };
    return { mode, coalesce, ...base(registry as unknown as BatchRegistry<unknown, unknown>) };
  }
  const strategy: Promise<MergeStrategy> = loadMergeStrategy(batch.merge);
  strategy.catch(() => {}); // reported to each request that needs it (a 500 naming the module)
  const registry = new BatchRegistry({ ...common, executor: mergeExecutor(target, strategy, deps.log) });
  return { mode, merge: { registry, strategy, count, clock: deps.clock }, ...base(registry as unknown as BatchRegistry<unknown, unknown>) };
}

function memo<T>(make: (k: string) => T): (k: string) => T {
  const made = new Map<string, T>();
  return (k) => {
    let v = made.get(k);
    if (v === undefined) { v = make(k); made.set(k, v); }
    return v;
  };
}

function policyFor(target: TargetCalls, deps: TargetDeps, onFallback: () => void): SlotPolicy {
  const { batch } = target.config;
  switch (batch.policy) {
    case 'timer': return timerPolicy;
    case 'adaptive': return createAdaptivePolicy({
      latencyCostPerMs: batch.adaptive.latencyCostPerMs,
      batchCostExponent: batch.adaptive.batchCostExponent ?? (batch.mode === 'merge' ? 0.5 : 0),
      learningRate: batch.adaptive.learningRate,
      rateHalfLifeMs: batch.adaptive.rateHalfLifeMs,
    });
    case 'agent': return createAgentPolicy({
      bus: deps.bus, cluster: deps.clusterName, target: target.name, timeoutMs: batch.agentTimeoutMs, onFallback,
    });
  }
}
