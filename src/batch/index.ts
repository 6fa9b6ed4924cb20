// What other folders may import from src/batch: batch keys, merge strategies and flush policies.
// All pure: no clock, no I/O (the strategy loader's dynamic import aside, run once at startup).
export { CREDENTIAL_HEADERS, coalesceKey, mergeKey } from './batch-key.ts';
export { createAdaptivePolicy, DEFAULT_ADAPTIVE, JOIN_SHARE_BOUNDS } from './adaptive-policy.ts';
export { arrivalRate, ratePerMs, recordArrivals } from './ewma.ts';
export { decideWithGuards, FlushDecision, guard, timerPolicy } from './flush-policy.ts';
export { jsonArray } from './json-array.ts';
export { keyed } from './keyed.ts';
export { LatencyWindow } from './latency-window.ts';
export { BUILTIN_STRATEGIES, loadMergeStrategy, strategyFromModule } from './load-strategy.ts';
export {
  badReplyFor, completeSplit, failAll, includedIds, JSON_CONTENT_TYPE, rejectItem,
} from './merge-strategy.ts';

export type { AdaptiveOptions, AdaptivePolicy } from './adaptive-policy.ts';
export type { BatchKey, HeaderBag, KeyedRequest, KeyOptions } from './batch-key.ts';
export type { ArrivalRate } from './ewma.ts';
export type { FlushFeatures, FlushObservation, FlushPolicy } from './flush-policy.ts';
export type { LoadStrategyOptions } from './load-strategy.ts';
export type {
  BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult,
} from './merge-strategy.ts';
