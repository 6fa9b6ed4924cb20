// The one place a coalesced flight chooses between calling the upstream here and handing the call
// to its key's owner (fleet scope). The executor calls `callForKey` where it would call
// `target.callUpstream`; with scope node, or a key this node owns, or a cold key, it is exactly that.
// Also the X-Sluice-Batch size across the fleet: a forward stands for the clients it carried.
import type { BatchKey } from '../../batch/index.ts';
import { endToEnd } from '../../proxy/headers.ts';
import type { RequestContext } from '../../proxy/request-context.ts';
import type { UpstreamCall } from '../../proxy/upstream-client.ts';
import { ADMIT_ALL, type TargetCalls, type UpstreamCallOptions, type UpstreamCallResult } from '../target-parts.ts';
import type { FleetScope } from './fleet-scope.ts';

export interface Flight {
  readonly key: BatchKey;
  /** The leader's request: what the owner will see. */
  readonly ctx: RequestContext;
  readonly body: Buffer | undefined;
  /** Clients the flight answers here when it leaves (for X-Sluice-Batch at the owner). */
  readonly clients: number;
}

/** A result that came from the key's owner: its X-Sluice-Batch names the owner's call. */
export interface OwnerCallResult extends UpstreamCallResult {
  readonly owner: string;
  /** The clients this node's forward stood for in the owner's count. */
  readonly forwardedClients: number;
}

export const isOwnerResult = (r: UpstreamCallResult): r is OwnerCallResult => typeof (r as Partial<OwnerCallResult>).owner === 'string';

export function callForKey(target: TargetCalls, fleet: FleetScope | undefined, flight: Flight, call: UpstreamCall, o: UpstreamCallOptions): Promise<UpstreamCallResult> {
  const local = (): Promise<UpstreamCallResult> => target.callUpstream(call, o);
  const { ctx } = flight;
  if (!fleet || ctx.forwarded) return local(); // a forwarded flight is answered here, never passed on
  const owner = fleet.route(target.name, flight.key, o.idempotent === true);
  if (!owner) return local();
  return fleet.call<UpstreamCallResult>(owner, {
    target: target.name, method: ctx.method, path: ctx.path, query: ctx.query, headers: endToEnd(ctx.req.headers),
    ip: ctx.clientIp, tls: (ctx.req.socket as { encrypted?: boolean } | undefined)?.encrypted === true,
    body: flight.body, clients: flight.clients, timeoutMs: target.config.batch.forwardTimeoutMs,
  }, o.signal, local, (reply, tookMs): OwnerCallResult => ({ reply, replica: `owner:${owner}`, admission: ADMIT_ALL, owner, forwardedClients: flight.clients, upstreamMs: tookMs }));
}

/** Clients a waiter stands for: one, or those a forwarded flight carried. */
export const clientsOf = (ctx: RequestContext): number => ctx.forwarded?.clients ?? 1;

/**
 * X-Sluice-Batch for an answer that came from the owner: the owner's call, its size counting this
 * node's clients in place of those the forward carried. Undefined when the owner's header is absent.
 */
export function fleetBatchHeader(r: OwnerCallResult, localSize: number): string | undefined {
  const h = r.reply.headers['x-sluice-batch'];
  const m = typeof h === 'string' ? /^([^;]+); size=(\d+)$/.exec(h) : null;
  if (!m) return undefined;
  return `${m[1]}; size=${Math.max(0, Number(m[2]) - r.forwardedClients) + localSize}`;
}
