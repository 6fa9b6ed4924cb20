// Shared by the JSON strategies: each request body must be exactly one JSON value. A body that is
// not is that caller's mistake alone, answered 400 while the rest of the batch goes ahead.
import { describeJson, parseJson } from './json-raw.ts';
import { assertUniqueIds, failAll, isSuccess, JSON_CONTENT_TYPE, passThroughAll, rejectItem } from './merge-strategy.ts';
import type { BatchReply, ItemAnswer, MergedRequest, MergeItem, SplitResult } from './merge-strategy.ts';

export interface AcceptedItem { readonly id: string; /** The body's JSON text, as sent. */ readonly text: string }

export function checkJsonItem(item: MergeItem): ItemAnswer | undefined {
  const parsed = parseJson(item.body);
  return parsed.ok ? undefined : rejectItem(`request body ${parsed.reason}`);
}

export function acceptJsonItems(items: readonly MergeItem[]): { accepted: AcceptedItem[]; rejected: Map<string, ItemAnswer> } {
  assertUniqueIds(items.map((i) => i.id));
  const accepted: AcceptedItem[] = [];
  const rejected = new Map<string, ItemAnswer>();
  for (const item of items) {
    const parsed = parseJson(item.body);
    if (parsed.ok) accepted.push({ id: item.id, text: parsed.text });
    else rejected.set(item.id, rejectItem(`request body ${parsed.reason}`));
  }
  return { accepted, rejected };
}

/** The merged request of a JSON strategy: `wrap` joins the accepted items' texts into one body. */
export function mergeJsonItems(items: readonly MergeItem[], wrap: (accepted: AcceptedItem[]) => string): MergedRequest {
  const { accepted, rejected } = acceptJsonItems(items);
  const body = Buffer.from(wrap(accepted));
  return rejected.size > 0 ? { body, contentType: JSON_CONTENT_TYPE, rejected } : { body, contentType: JSON_CONTENT_TYPE };
}

/**
 * The first half of every JSON split: a non-2xx reply goes to everyone as it is, and a reply that is
 * not JSON of the expected shape fails everyone with the reason. Otherwise the reply's text, to split.
 */
export function jsonReplyToSplit(reply: BatchReply, ids: readonly string[], isShape: (value: unknown) => boolean, expected: string):
  { done: SplitResult } | { text: string } {
  assertUniqueIds(ids);
  if (!isSuccess(reply.status)) return { done: passThroughAll(reply, ids) };
  const parsed = parseJson(reply.body);
  if (!parsed.ok) return { done: failAll(ids, `batch reply ${parsed.reason}`) };
  if (!isShape(parsed.value)) return { done: failAll(ids, `batch reply is ${describeJson(parsed.value)}, expected ${expected}`) };
  return { text: parsed.text };
}
