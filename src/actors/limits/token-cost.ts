// The token cost of one request, before the call: the caller's own estimate in a limit's `tokenHeader`
// when present (the first token limit that names a present header wins), else the body's output cap
// plus bytes / 4 (src/limit/tokens.ts). Computed once per request and remembered, since per-client
// and per-target admissions both need it.
import type { IncomingHttpHeaders } from 'node:http';
import type { LimitConfig } from '../../config/schema.ts';
import { estimateTokens } from '../../limit/tokens.ts';

const remembered = new WeakMap<object, number>();

export const countsTokens = (limits: readonly LimitConfig[]): boolean => limits.some((l) => l.dimension === 'tokens');

export function tokenEstimate(limits: readonly LimitConfig[], headers: IncomingHttpHeaders, body?: Buffer): number {
  for (const l of limits) {
    if (l.dimension !== 'tokens') continue;
    const v = headers[l.tokenHeader];
    const text = Array.isArray(v) ? v[0] : v;
    if (text !== undefined && /^\s*\d+\s*$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
  }
  return estimateTokens(body ? { body } : {});
}

/** `tokenEstimate` once per request object (`owner`, e.g. the request context). */
export function tokenEstimateOnce(owner: object, limits: readonly LimitConfig[], headers: IncomingHttpHeaders, body?: Buffer): number {
  let n = remembered.get(owner);
  if (n === undefined) remembered.set(owner, (n = tokenEstimate(limits, headers, body)));
  return n;
}
