// What other folders may import from src/batch: batch keys, merge strategies and flush policies.
// All pure: no clock, no I/O (the strategy loader's dynamic import aside, run once at startup).
export { CREDENTIAL_HEADERS, coalesceKey, mergeKey } from './batch-key.ts';
export { createAdaptivePolicy, DEFAULT_ADAPTIVE, JOIN_SHARE_BOUNDS, parseAdaptiveState } from './adaptive-policy.ts';
export { batchCost, bestHoldMs, checkCostModel, expectedHoldReward, requestReward, savedPerRequest } from './batch-reward.ts';
export { arrivalRate, ratePerMs, recordArrivals } from './ewma.ts';
export { decideWithGuards, FlushDecision, guard, timerPolicy } from './flush-policy.ts';
export { decodeAnswer, decodeAsk, encodeAnswer, encodeAsk } from './agent-protocol.ts';
export { jsonArray } from './json-array.ts';
export { keyed } from './keyed.ts';
export { LatencyWindow } from './latency-window.ts';
export { BUILTIN_STRATEGIES, loadMergeStrategy, strategyFromModule } from './load-strategy.ts';
export {
  badReplyFor, completeSplit, failAll, includedIds, JSON_CONTENT_TYPE, rejectItem,
} from './merge-strategy.ts';

export type { AdaptiveOptions, AdaptivePolicy, AdaptiveState } from './adaptive-policy.ts';
export type { CostModel } from './batch-reward.ts';
export type { BatchKey, HeaderBag, KeyedRequest, KeyOptions } from './batch-key.ts';
export type { ArrivalRate } from './ewma.ts';
export type { FlushFeatures, FlushObservation, FlushOutcome, FlushPolicy } from './flush-policy.ts';
export type { LoadStrategyOptions } from './load-strategy.ts';
export type {
  BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult,
} from './merge-strategy.ts';
