// One upstream replica's circuit breaker: closed → open → halfOpen → closed (or back to open).
// Opens on failures in a row, or when the failure rate or the slow-call rate over a rolling window
// reaches its threshold with at least `minCalls` calls (resilience4j's rules). Stays open for a
// backoff that doubles on each re-open up to `maxOpenMs`; half-open lets exactly `probes` calls
// through and closes only when all of them succeed in time.
//
// No timers and no clock inside: events carry `at` (epoch ms) and the context says when the next
// timer is due (`openUntil`, `halfOpenDeadline`); breaker-actor.ts sends `timer.expired` then from
// its injected clock. That keeps every path walkable by model-based tests (STACK.md).
//
// Admission is an event too: `call.requested` takes a permit (or not) and `context.admitted`
// answers it, so two callers can never both take the last probe. Each admitted call carries the
// `epoch` it was admitted in; a result from an older epoch (a slow call admitted before the breaker
// tripped) is ignored, so a straggler cannot close a half-open breaker in its probes' place.
import { assign, not, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { add, emptyRollingCounts, total } from '../dispatch/rolling-counts.ts';
import type { RollingCounts } from '../dispatch/rolling-counts.ts';

export interface BreakerConfig {
  /** Failures in a row that open the breaker. Default 5. */
  readonly consecutiveFailures: number;
  /** Share of failed calls over the window, in (0, 1], that opens the breaker. Default 0.5. */
  readonly failureRate: number;
  /** The rolling window the rates are measured over, in ms. Default 10000. */
  readonly windowMs: number;
  /** Rates are not judged on fewer calls than this in the window. Default 20. */
  readonly minCalls: number;
  /** A call taking longer than this (ms) is slow, whether it succeeded or not. Default 5000. */
  readonly slowCallMs: number;
  /** Share of slow calls over the window, in (0, 1], that opens the breaker. Optional; default 1. */
  readonly slowCallRate?: number | undefined;
  /** First open period, in ms; doubles on each re-open. Default 1000. */
  readonly openMs: number;
  /** The longest open period, in ms. Default 30000. */
  readonly maxOpenMs: number;
  /** Calls let through while half-open; all must succeed to close. Default 1. */
  readonly probes: number;
  /** Probes not all finished this long (ms) after half-opening re-open the breaker. Default 10000. */
  readonly halfOpenMaxMs: number;
}

export const DEFAULT_BREAKER_CONFIG: Readonly<Required<BreakerConfig>> = Object.freeze({
  consecutiveFailures: 5, failureRate: 0.5, windowMs: 10_000, minCalls: 20, slowCallMs: 5_000,
  slowCallRate: 1, openMs: 1_000, maxOpenMs: 30_000, probes: 1, halfOpenMaxMs: 10_000,
});

export type BreakerState = 'closed' | 'open' | 'halfOpen';

/** Why the breaker entered its current state. */
export const BreakerReason = {
  ConsecutiveFailures: 'consecutive-failures',
  FailureRate: 'failure-rate',
  SlowCallRate: 'slow-call-rate',
  OpenElapsed: 'open-elapsed',
  ProbeFailed: 'probe-failed',
  HalfOpenTimeout: 'half-open-timeout',
  ProbesSucceeded: 'probes-succeeded',
} as const;
export type BreakerReason = (typeof BreakerReason)[keyof typeof BreakerReason];

type OutcomeKey = 'calls' | 'failures' | 'slow';

export interface BreakerContext {
  readonly config: Required<BreakerConfig>;
  /** Bumped on every state change; permits carry it so late results of older epochs are ignored. */
  readonly epoch: number;
  /** Epoch ms the current state was entered. */
  readonly since: number;
  /** Why the current state was entered; null before the first change. */
  readonly reason: BreakerReason | null;
  /** Failures since the last success, while closed. */
  readonly failuresInRow: number;
  /** Outcomes of this closed period's calls. */
  readonly window: RollingCounts<OutcomeKey>;
  /** Length of the current (or last) open period, in ms. */
  readonly openForMs: number;
  /** Epoch ms the open period ends: `timer.expired` from then on half-opens. Null unless open. */
  readonly openUntil: number | null;
  /** Epoch ms by which the probes must have succeeded. Null unless half-open. */
  readonly halfOpenDeadline: number | null;
  readonly probesIssued: number;
  readonly probesSucceeded: number;
  /** The answer to the last `call.requested`. */
  readonly admitted: boolean;
}

export interface BreakerInput {
  readonly config: BreakerConfig;
  /** Epoch ms the breaker starts. */
  readonly at: number;
}

export type BreakerEvent =
  | { type: 'call.requested' }
  /** `epoch`: the epoch the call was admitted in (its permit); omitted, the result always counts. */
  | { type: 'call.finished'; ok: boolean; durationMs: number; at: number; epoch?: number | undefined }
  | { type: 'timer.expired'; at: number }
  /**
   * `count` fast successes in one rolling bucket, none of which trips the breaker (the sender checks
   * each with `successTrips` first): the breaker actor folds runs of them into one event.
   */
  | { type: 'calls.succeeded'; count: number; at: number };

type FinishedEvent = Extract<BreakerEvent, { type: 'call.finished' }>;

const outcomeOf = (e: FinishedEvent, c: BreakerConfig): { failed: boolean; slow: boolean } =>
  ({ failed: !e.ok, slow: e.durationMs > c.slowCallMs });

/** The rule a closed breaker would trip by if this result were recorded; null when none. */
export function tripReason(context: BreakerContext, event: FinishedEvent): BreakerReason | null {
  const c = context.config;
  const { failed } = outcomeOf(event, c);
  if (failed && context.failuresInRow + 1 >= c.consecutiveFailures) return BreakerReason.ConsecutiveFailures;
  const window = recordIn(context.window, event, c);
  const calls = total(window, event.at, 'calls');
  if (calls < c.minCalls) return null;
  // Divide rather than multiply: 3 / 5 >= 0.6 holds, 3 >= 0.6 * 5 does not (that is 3.0000000000000004).
  if (total(window, event.at, 'failures') / calls >= c.failureRate) return BreakerReason.FailureRate;
  if (total(window, event.at, 'slow') / calls >= c.slowCallRate) return BreakerReason.SlowCallRate;
  return null;
}

/**
 * Whether one more fast success at `at`, after `pending` others not yet recorded in this bucket,
 * would trip a closed breaker: the rate rules can fire on a success once it brings the window's
 * calls up to `minCalls`.
 */
export function successTrips(context: BreakerContext, pending: number, at: number): boolean {
  const c = context.config;
  const calls = total(context.window, at, 'calls') + pending + 1;
  if (calls < c.minCalls) return false;
  return total(context.window, at, 'failures') / calls >= c.failureRate || total(context.window, at, 'slow') / calls >= c.slowCallRate;
}

function recordIn(window: RollingCounts<OutcomeKey>, event: FinishedEvent, c: BreakerConfig): RollingCounts<OutcomeKey> {
  const { failed, slow } = outcomeOf(event, c);
  return add(window, event.at, { calls: 1, ...(failed ? { failures: 1 } : {}), ...(slow ? { slow: 1 } : {}) });
}

const eventAt = (e: BreakerEvent): number => ('at' in e ? e.at : 0);

export function initialBreakerContext(input: BreakerInput): BreakerContext {
  const config: Required<BreakerConfig> = { ...DEFAULT_BREAKER_CONFIG, ...stripUndefined(input.config) };
  return {
    config, epoch: 0, since: input.at, reason: null, failuresInRow: 0,
    window: emptyRollingCounts<OutcomeKey>(config.windowMs), openForMs: config.openMs,
    openUntil: null, halfOpenDeadline: null, probesIssued: 0, probesSucceeded: 0, admitted: false,
  };
}

const stripUndefined = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Context fields every state change sets: a new epoch, its start, why, and no probes. */
const enter = (context: BreakerContext, at: number, reason: BreakerReason) => ({
  epoch: context.epoch + 1, since: at, reason, probesIssued: 0, probesSucceeded: 0,
});

export const circuitBreaker = setup({
  types: {
    input: {} as BreakerInput,
    context: {} as BreakerContext,
    events: {} as BreakerEvent,
  },
  guards: {
    isStale: ({ context, event }) => event.type === 'call.finished' && event.epoch !== undefined && event.epoch !== context.epoch,
    trips: ({ context, event }) => event.type === 'call.finished' && tripReason(context, event) !== null,
    hasProbePermit: ({ context }) => context.probesIssued < context.config.probes,
    // A probe's result: admitted in this half-open period (when it says), and a probe is still out.
    isProbeResult: ({ context, event }) =>
      event.type === 'call.finished' && (event.epoch === undefined || event.epoch === context.epoch)
      && context.probesSucceeded < context.probesIssued,
    isBadResult: ({ context, event }) => {
      if (event.type !== 'call.finished') return false;
      const { failed, slow } = outcomeOf(event, context.config);
      return failed || slow;
    },
    isCountedRun: ({ event }) => event.type === 'calls.succeeded' && Number.isSafeInteger(event.count) && event.count > 0 && Number.isFinite(event.at),
    isLastProbe: ({ context }) => context.probesSucceeded + 1 >= context.config.probes,
    openElapsed: ({ context, event }) => context.openUntil !== null && eventAt(event) >= context.openUntil,
    halfOpenExpired: ({ context, event }) => context.halfOpenDeadline !== null && eventAt(event) >= context.halfOpenDeadline,
  },
  actions: {
    admit: assign({ admitted: true }),
    refuse: assign({ admitted: false }),
    takeProbe: assign({ admitted: true, probesIssued: ({ context }) => context.probesIssued + 1 }),
    countProbe: assign({ probesSucceeded: ({ context }) => context.probesSucceeded + 1 }),
    recordSuccesses: assign(({ context, event }) => {
      if (event.type !== 'calls.succeeded') return {};
      return { failuresInRow: 0, window: add(context.window, event.at, { calls: event.count }) };
    }),
    record: assign(({ context, event }) => {
      if (event.type !== 'call.finished') return {};
      const { failed } = outcomeOf(event, context.config);
      return { failuresInRow: failed ? context.failuresInRow + 1 : 0, window: recordIn(context.window, event, context.config) };
    }),
    trip: assign(({ context, event }) => {
      if (event.type !== 'call.finished') return {};
      // Tripping from closed starts the backoff over: only re-opens from half-open double it.
      const openForMs = context.config.openMs;
      return {
        ...enter(context, event.at, tripReason(context, event) ?? BreakerReason.ConsecutiveFailures),
        failuresInRow: 0, window: emptyRollingCounts<OutcomeKey>(context.config.windowMs),
        openForMs, openUntil: event.at + openForMs,
      };
    }),
    halfOpen: assign(({ context, event }) => ({
      ...enter(context, eventAt(event), BreakerReason.OpenElapsed),
      openUntil: null, halfOpenDeadline: eventAt(event) + context.config.halfOpenMaxMs,
    })),
    reopen: assign(({ context, event }, params: { reason: BreakerReason }) => {
      const openForMs = Math.min(context.config.maxOpenMs, context.openForMs * 2);
      return {
        ...enter(context, eventAt(event), params.reason),
        openForMs, openUntil: eventAt(event) + openForMs, halfOpenDeadline: null,
      };
    }),
    close: assign(({ context, event }) => ({
      ...enter(context, eventAt(event), BreakerReason.ProbesSucceeded),
      halfOpenDeadline: null, failuresInRow: 0,
      window: emptyRollingCounts<OutcomeKey>(context.config.windowMs),
    })),
  },
}).createMachine({
  id: 'circuitBreaker',
  context: ({ input }) => initialBreakerContext(input),
  initial: 'closed',
  states: {
    closed: {
      on: {
        'call.requested': { actions: 'admit' },
        'call.finished': [
          { guard: 'isStale', description: 'admitted before the last state change: says nothing about now' },
          { guard: 'trips', target: 'open', actions: 'trip' },
          { actions: 'record' },
        ],
        'calls.succeeded': { guard: 'isCountedRun', actions: 'recordSuccesses' },
      },
    },
    open: {
      on: {
        'call.requested': { actions: 'refuse' },
        'call.finished': { description: 'a call admitted before the trip finished late: ignored' },
        'timer.expired': { guard: 'openElapsed', target: 'halfOpen', actions: 'halfOpen' },
      },
    },
    halfOpen: {
      on: {
        'call.requested': [
          { guard: 'hasProbePermit', actions: 'takeProbe' },
          { actions: 'refuse' },
        ],
        'call.finished': [
          { guard: not('isProbeResult'), description: 'not a probe of this half-open period' },
          { guard: 'isBadResult', target: 'open', actions: { type: 'reopen', params: { reason: BreakerReason.ProbeFailed } } },
          { guard: 'isLastProbe', target: 'closed', actions: 'close' },
          { actions: 'countProbe' },
        ],
        'timer.expired': { guard: 'halfOpenExpired', target: 'open', actions: { type: 'reopen', params: { reason: BreakerReason.HalfOpenTimeout } } },
      },
    },
  },
});

export type BreakerActor = ActorRefFrom<typeof circuitBreaker>;
export type BreakerSnapshot = SnapshotFrom<typeof circuitBreaker>;

export const breakerState = (s: BreakerSnapshot): BreakerState => s.value as BreakerState;

/**
 * Asks for a permit and answers synchronously. Do not call it from inside one of the actor's own
 * listeners: xstate queues an event sent while it is processing another, and the answer read here
 * would be the previous one's (breaker-actor.ts refuses such calls).
 */
export function tryAcquire(actor: BreakerActor): boolean {
  actor.send({ type: 'call.requested' });
  return actor.getSnapshot().context.admitted;
}

/** Epoch ms of the next `timer.expired` the machine waits for, or null when it waits for none. */
export function nextTimerAt(s: BreakerSnapshot): number | null {
  const state = breakerState(s);
  if (state === 'open') return s.context.openUntil;
  if (state === 'halfOpen') return s.context.halfOpenDeadline;
  return null;
}

/**
 * How long a refused caller should wait before trying again (the Retry-After of its 503): until the
 * open period ends, or while half-open with every probe out, the shorter of the last open period and
 * the time left for the probes. 0 when a call would be let through.
 */
export function retryAfterMs(s: BreakerSnapshot, now: number): number {
  const c = s.context;
  switch (breakerState(s)) {
    case 'closed': return 0;
    case 'open': return Math.max(0, (c.openUntil ?? now) - now);
    case 'halfOpen':
      if (c.probesIssued < c.config.probes) return 0;
      return Math.max(0, Math.min(c.openForMs, (c.halfOpenDeadline ?? now) - now));
  }
}
