// A client's Admission must be settled or cancelled exactly once, but a batched waiter has several
// paths to its end (reply, failure, deadline, disconnect, an individual call). This wrapper makes the
// first of them count and the rest no-ops, so no path has to know what another already did.
import { ErrorCode } from '../../errors.ts';
import type { Admission } from '../target-parts.ts';

export class OnceAdmission implements Admission {
  private done = false;
  constructor(private readonly a: Admission) {}
  get headers(): Readonly<Record<string, string>> { return this.a.headers; }
  settle(usage: { tokens?: number | undefined }): void { if (!this.done) { this.done = true; this.a.settle(usage); } }
  cancel(): void { if (!this.done) { this.done = true; this.a.cancel(); } }
}

export const once = (a: Admission): Admission => new OnceAdmission(a);

/** Failures raised before any upstream call was made: the client's reservation goes back. */
const NO_CALL_CODES = new Set<string>([ErrorCode.RateLimited, ErrorCode.BreakerOpen, ErrorCode.QueueFull, ErrorCode.ShuttingDown]);

/** Ends `a` after a failed call: cancelled when no call was made, else settled with unknown usage. */
export function endAfterFailure(a: Admission, error: unknown): void {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && NO_CALL_CODES.has(code)) a.cancel();
  else a.settle({});
}
