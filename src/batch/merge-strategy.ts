// How distinct requests become one upstream call and the one reply becomes an answer per caller.
// A strategy is two pure functions over bytes. One bad item never fails the batch: a request body the
// strategy cannot merge is answered 400 on its own, a reply missing an item answers that caller 502,
// and everyone else is answered normally.
import { BadRequestError, BadUpstreamReplyError, InvalidArgumentError } from '../errors.ts';
import type { SluiceError } from '../errors.ts';

/** One waiting caller's request. `id` is the waiter id; it is unique within a batch. */
export interface MergeItem {
  readonly id: string;
  readonly body: Buffer;
  readonly contentType?: string;
}

/** The upstream call's body. Items in `rejected` are not in it and must be answered on their own. */
export interface MergedRequest {
  readonly body: Buffer;
  readonly contentType: string;
  readonly rejected?: ReadonlyMap<string, ItemAnswer>;
}

export interface BatchReply {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType?: string;
}

/**
 * What one caller gets. When `error` is set the answer is a failure: the HTTP edge should render
 * `error` as problem details (its status matches `status`) rather than send `body`.
 */
export interface ItemAnswer {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType?: string;
  readonly error?: SluiceError;
}

export interface SplitResult {
  readonly perItem: Map<string, ItemAnswer>;
  /** Set when the reply as a whole was off (not JSON, wrong shape, wrong length, non-2xx). */
  readonly error?: string;
}

export interface MergeStrategy {
  readonly name: string;
  /** Optional early check of one item, run when it arrives: an answer here means "reject it now". */
  check?(item: MergeItem): ItemAnswer | undefined;
  merge(items: readonly MergeItem[]): MergedRequest;
  /** `ids` are the items that went into the call (not `rejected`), in merge order. */
  split(reply: BatchReply, ids: readonly string[]): SplitResult;
  /** The merged call may be retried (the upstream treats it as idempotent). Default false. */
  readonly retrySafe?: boolean;
}

export const JSON_CONTENT_TYPE = 'application/json';

/** A failure answer for one item: 400 for a request the strategy cannot merge. */
export const rejectItem = (detail: string): ItemAnswer => failure(400, new BadRequestError(detail));

/** A failure answer for one item: 502 for a reply that does not answer it. */
export const badReplyFor = (detail: string): ItemAnswer => failure(502, new BadUpstreamReplyError(detail));

const failure = (status: number, error: SluiceError): ItemAnswer => ({ status, body: Buffer.alloc(0), error });

/** The ids that went into the upstream call, in order: every item not rejected by `merge`. */
export const includedIds = (items: readonly MergeItem[], merged: MergedRequest): string[] =>
  items.filter((i) => !merged.rejected?.has(i.id)).map((i) => i.id);

/**
 * Makes any split result whole: every id gets exactly one answer (502 when the strategy gave none)
 * and answers for ids not in the batch are dropped. The registry runs custom strategies through this.
 */
export function completeSplit(result: SplitResult, ids: readonly string[]): SplitResult {
  const perItem = new Map<string, ItemAnswer>();
  for (const id of ids) perItem.set(id, result.perItem.get(id) ?? badReplyFor(`batch reply has no answer for request ${id}`));
  return result.error === undefined ? { perItem } : { perItem, error: result.error };
}

/** Every item answered with the same failure; `error` repeats the detail for logs. */
export function failAll(ids: readonly string[], detail: string): SplitResult {
  return { perItem: new Map(ids.map((id) => [id, badReplyFor(detail)])), error: detail };
}

/** A non-2xx reply is the upstream's answer to the whole batch: every caller sees it as it came. */
export function passThroughAll(reply: BatchReply, ids: readonly string[]): SplitResult {
  const answer: ItemAnswer = reply.contentType === undefined
    ? { status: reply.status, body: reply.body }
    : { status: reply.status, body: reply.body, contentType: reply.contentType };
  return { perItem: new Map(ids.map((id) => [id, answer])), error: `upstream answered ${reply.status} for the whole batch` };
}

export const isSuccess = (status: number): boolean => status >= 200 && status < 300;

export function assertUniqueIds(ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new InvalidArgumentError(`request id ${JSON.stringify(id)} appears twice in one batch`);
    seen.add(id);
  }
}
