// The seams of a target's request path. Each part is built from the target's config by its own module
// and plugged into TargetRuntime; the defaults here are what a target without that feature gets.
import type { TargetConfig } from '../config/schema.ts';
import type { RequestContext } from '../proxy/request-context.ts';
import type { UpstreamCall } from '../proxy/upstream-client.ts';
import type { DispatchOptions, DispatchResult } from './replica-set.ts';

/** Units a call may spend: one request, and a token estimate made before the call. */
export interface Cost { requests: number; tokens: number }

/**
 * Admission granted by the limits. `headers` go on the answer (RateLimit-*, X-Sluice-Degraded…).
 * Exactly one of `settle` (the call was made; reconcile tokens with the reported usage) or `cancel`
 * (no call was made; give the reservation back) is called, once.
 */
export interface Admission {
  readonly headers: Readonly<Record<string, string>>;
  settle(usage: { tokens?: number | undefined }): void;
  cancel(): void;
}

export interface TargetLimits {
  /** Limits keyed per client (`per: ip | {header}`): each client request costs its own. */
  admitRequest(ctx: RequestContext, cost: Cost): Promise<Admission>;
  /** Limits `per: target` protect the upstream: one upstream call (a whole batch) costs one request. */
  admitUpstreamCall(cost: Cost, signal?: AbortSignal): Promise<Admission>;
  /**
   * The same decisions, answered with the admission itself when nothing has to wait (the common
   * case): the request path then takes no promise hops. A refusal or a wait still comes as a promise.
   */
  admitRequestNow?(ctx: RequestContext, cost: Cost): Admission | Promise<Admission>;
  admitUpstreamCallNow?(cost: Cost, signal?: AbortSignal): Admission | Promise<Admission>;
  /** True when some limit counts tokens, so the caller must estimate and report usage. */
  readonly countsTokens: boolean;
  describe(): unknown;
  close(): Promise<void>;
}

export const ADMIT_ALL: Admission = Object.freeze({ headers: Object.freeze({}), settle: () => {}, cancel: () => {} });

export const noLimits: TargetLimits = {
  admitRequest: async () => ADMIT_ALL,
  admitUpstreamCall: async () => ADMIT_ALL,
  countsTokens: false,
  describe: () => [],
  close: async () => {},
};

/** Spaces upstream calls (GCRA); resolves when this call may go. */
export interface UpstreamPacer {
  acquire(signal?: AbortSignal): Promise<void>;
  describe(): unknown;
  close(): void;
}

export const noPacing: UpstreamPacer = { acquire: async () => {}, describe: () => null, close: () => {} };

export interface UpstreamCallOptions extends DispatchOptions {
  /** What this upstream call spends against `per: target` limits (a batch is one request). */
  cost: Cost;
  signal?: AbortSignal | undefined;
}

export interface UpstreamCallResult extends DispatchResult {
  /** Settle with the usage the reply reports, once known. */
  admission: Admission;
  /** From the call leaving (after limits and pacing) to the reply's head, retries included. */
  upstreamMs: number;
}

/**
 * What a target's batching needs of its runtime: its config, its limits (to estimate and report
 * tokens) and the one way to call its upstream. Batching names this, not TargetRuntime, so the
 * runtime can build its batching without an import cycle.
 */
export interface TargetCalls {
  readonly name: string;
  readonly config: TargetConfig;
  readonly limits: TargetLimits;
  callUpstream(call: UpstreamCall, o: UpstreamCallOptions): Promise<UpstreamCallResult>;
}
