// The headers a limited target puts on its answers. RateLimit-Limit/-Remaining/-Reset follow the IETF
// draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers, the three-field
// form): Reset is delta-seconds until the window resets, never an epoch. When several limits apply
// the answer shows the most constraining one. X-Sluice-Degraded and X-Sluice-Would-Limit name every
// limit in that state, comma-separated.
import type { Decision } from '../../limit/decision.ts';

export const H_LIMIT = 'ratelimit-limit';
export const H_REMAINING = 'ratelimit-remaining';
export const H_RESET = 'ratelimit-reset';
export const H_DEGRADED = 'x-sluice-degraded';
export const H_WOULD_LIMIT = 'x-sluice-would-limit';

export type AnswerHeaders = Record<string, string>;

/** Whole seconds until `resetAt`, rounded up so a client that waits that long finds the new window. */
export const resetSeconds = (resetAt: number, now: number): number => Math.max(0, Math.ceil((resetAt - now) / 1000));

export function rateLimitHeaders(d: Decision, now: number): AnswerHeaders {
  return { [H_LIMIT]: String(d.limit), [H_REMAINING]: String(d.remaining), [H_RESET]: String(resetSeconds(d.resetAt, now)) };
}

/** The decision that leaves the least: lowest remaining, then the later reset. */
export function mostConstraining(decisions: readonly Decision[]): Decision | undefined {
  let best: Decision | undefined;
  for (const d of decisions) {
    if (!best || d.remaining < best.remaining || (d.remaining === best.remaining && d.resetAt > best.resetAt)) best = d;
  }
  return best;
}

/** RateLimit-* of the most constraining decision, plus the degraded and shadow-mode markers. */
export function answerHeaders(decisions: readonly Decision[], now: number): AnswerHeaders {
  const top = mostConstraining(decisions);
  if (!top) return {};
  const out = rateLimitHeaders(top, now);
  const degraded = decisions.filter((d) => d.degraded).map((d) => d.limitName);
  const wouldLimit = decisions.filter((d) => d.wouldLimit && d.allowed).map((d) => d.limitName);
  if (degraded.length) out[H_DEGRADED] = degraded.join(', ');
  if (wouldLimit.length) out[H_WOULD_LIMIT] = wouldLimit.join(', ');
  return out;
}

/**
 * Joins the headers of two admissions of one request (its per-client and per-target limits): the
 * RateLimit-* trio of the one with less remaining, and the union of the named limits.
 */
export function mergeAnswerHeaders(a: Readonly<AnswerHeaders>, b: Readonly<AnswerHeaders>): Readonly<AnswerHeaders> {
  // Most requests meet limits on one side only (or none): no copy then.
  if (isEmpty(a)) return b;
  if (isEmpty(b)) return a;
  const out: AnswerHeaders = { ...a, ...b };
  const ra = Number(a[H_REMAINING]);
  const rb = Number(b[H_REMAINING]);
  if (a[H_REMAINING] !== undefined && (b[H_REMAINING] === undefined || ra < rb || (ra === rb && Number(a[H_RESET]) > Number(b[H_RESET])))) {
    out[H_LIMIT] = a[H_LIMIT]!;
    out[H_REMAINING] = a[H_REMAINING];
    out[H_RESET] = a[H_RESET]!;
  }
  for (const h of [H_DEGRADED, H_WOULD_LIMIT]) {
    const names = [a[h], b[h]].filter((v): v is string => !!v);
    if (names.length) out[h] = names.join(', ');
  }
  return out;
}

function isEmpty(h: Readonly<AnswerHeaders>): boolean {
  for (const _ in h) return false;
  return true;
}
