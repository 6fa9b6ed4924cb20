// The one place a coalesced flight chooses between calling the upstream here and handing the call
// to its key's owner (fleet scope). The executor calls `callForKey` where it would call
// `target.callUpstream`; with scope node, or a key this node owns, or a cold key, it is exactly that.
import type { BatchKey } from '../../batch/index.ts';
import { endToEnd } from '../../http/headers.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { UpstreamCall } from '../../http/upstream-client.ts';
import { ADMIT_ALL } from '../target-parts.ts';
import type { TargetRuntime, UpstreamCallOptions, UpstreamCallResult } from '../target-runtime.ts';

export interface Flight {
  readonly key: BatchKey;
  /** The leader's request: what the owner will see. */
  readonly ctx: RequestContext;
  readonly body: Buffer | undefined;
  /** Clients the flight answers here (for X-Sluice-Batch at the owner). */
  readonly clients: number;
}

/** Marks a result that came from the key's owner: `x-sluice-batch` names the owner's call. */
export const OWNER_REPLICA_PREFIX = 'owner:';

export function callForKey(target: TargetRuntime, flight: Flight, call: UpstreamCall, o: UpstreamCallOptions): Promise<UpstreamCallResult> {
  const local = (): Promise<UpstreamCallResult> => target.callUpstream(call, o);
  const fleet = target.fleet;
  const { ctx } = flight;
  if (!fleet || ctx.forwarded) return local(); // a forwarded flight is answered here, never passed on
  const owner = fleet.route(target.name, flight.key, o.idempotent === true);
  if (!owner) return local();
  return fleet.call(owner, {
    target: target.name, method: ctx.method, path: ctx.path, query: ctx.query, headers: endToEnd(ctx.req.headers),
    ip: ctx.clientIp, tls: (ctx.req.socket as { encrypted?: boolean } | undefined)?.encrypted === true,
    body: flight.body, clients: flight.clients, timeoutMs: target.config.batch.forwardTimeoutMs,
  }, o.signal, local, (reply) => ({ reply, replica: OWNER_REPLICA_PREFIX + owner, admission: ADMIT_ALL }));
}

/**
 * X-Sluice-Batch for an answer that came from the owner: the owner's call, its size counting this
 * node's clients instead of the one forward that stood for them.
 */
export function fleetBatchHeader(ownerHeader: string | string[] | undefined, localSize: number): string | undefined {
  const m = typeof ownerHeader === 'string' ? /^([^;]+); size=(\d+)$/.exec(ownerHeader) : null;
  if (!m) return undefined;
  return `${m[1]}; size=${Math.max(1, Number(m[2]) - 1) + localSize}`;
}
