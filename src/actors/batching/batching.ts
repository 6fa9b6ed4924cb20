// A target's batching, built from its `batch` config: the registry of slots, the executor for its
// mode (coalesce or merge), the flush policy, and the HTTP handler requests in `batch.methods` go to.
// Mode `none` builds nothing: every request passes through.
import type { AdaptivePolicy, MergeStrategy } from '../../batch/index.ts';
import { createAdaptivePolicy, CREDENTIAL_HEADERS, loadMergeStrategy, timerPolicy } from '../../batch/index.ts';
import { coalesce } from '../../http/coalesce.ts';
import { merge } from '../../http/merge.ts';
import type { RequestContext } from '../../http/request-context.ts';
import { BatchRegistry, type BatchRegistryHooks, type SlotPolicy } from '../batch-registry.ts';
import type { TargetDeps, TargetRuntime } from '../target-runtime.ts';
import { createAgentPolicy } from './agent-policy.ts';
import { BatchMetrics } from './batch-metrics.ts';
import { sharePolicyState, type PolicyShare } from './policy-share.ts';
import { telemetryPublisher } from './policy-telemetry.ts';
import { coalesceExecutor } from './coalesce-batch.ts';
import { mergeExecutor } from './merge-batch.ts';

export interface Batching {
  readonly mode: 'coalesce' | 'merge';
  /** The registry, for tests and the admin view. */
  readonly registry: BatchRegistry<unknown, unknown>;
  /** The learning policy, when `batch.policy` is `adaptive`: its state is read and loaded by the admin API. */
  readonly adaptive: AdaptivePolicy | undefined;
  /** Whether `method` is batched here (`batch.methods`); others pass through. */
  handles(method: string): boolean;
  handle(ctx: RequestContext): Promise<void>;
  describe(): Record<string, unknown>;
  /** Flushes what waits and resolves once every slot has answered. */
  close(): Promise<void>;
}

export function createBatching(target: TargetRuntime, deps: TargetDeps): Batching | undefined {
  const { batch } = target.config;
  if (batch.mode === 'none') return undefined;
  const mode = batch.mode;
  const metrics = BatchMetrics.for(deps.metrics);
  const labels = { target: target.name, mode };
  const count = metrics.answeredCounter(target.name, mode);
  const hooks: BatchRegistryHooks = {
    onFlush: (reason, size) => {
      metrics.flushes.inc({ ...labels, reason });
      metrics.batchSize.observe(labels, size);
    },
    onSlotDone: (outcome, saved) => {
      metrics.slots.inc({ ...labels, outcome });
      if (saved > 0) metrics.callsSaved.inc(labels, saved);
    },
    onFault: (what, error) => deps.log?.('batching fault contained', { target: target.name, what, error: String((error as Error)?.stack ?? error) }),
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
  const common = { clock: deps.clock, maxWaitMs: batch.maxWaitMs, maxBatchSize: batch.maxBatchSize, hooks, policy };
  const methods = new Set(batch.methods);
  let registry: BatchRegistry<unknown, unknown>;
  let handle: (ctx: RequestContext) => Promise<void>;
  if (mode === 'coalesce') {
    const r = new BatchRegistry({ ...common, executor: coalesceExecutor(target) });
    const keyHeaders = [...target.config.vary, ...(target.config.public ? [] : CREDENTIAL_HEADERS)];
    handle = (ctx) => coalesce(ctx, target, { registry: r, count, clock: deps.clock, keyHeaders });
    registry = r as unknown as BatchRegistry<unknown, unknown>;
  } else {
    const strategy: Promise<MergeStrategy> = loadMergeStrategy(batch.merge);
    strategy.catch(() => {}); // reported to each request that needs it (a 500 naming the module)
    const r = new BatchRegistry({ ...common, executor: mergeExecutor(target, strategy, deps.log) });
    handle = (ctx) => merge(ctx, target, { registry: r, strategy, count, clock: deps.clock });
    registry = r as unknown as BatchRegistry<unknown, unknown>;
  }
  const untrack = metrics.track({ target: target.name, get liveSlots() { return registry.liveSlots; } });
  return {
    mode,
    registry,
    adaptive,
    handles: (method) => methods.has(method),
    handle,
    describe: () => ({ mode, ...registry.describe(), ...(adaptive ? { learned: adaptive.learned } : {}) }),
    close: async () => {
      share?.stop();
      await registry.close();
      untrack();
    },
  };
}

function policyFor(target: TargetRuntime, deps: TargetDeps, onFallback: () => void): SlotPolicy {
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
