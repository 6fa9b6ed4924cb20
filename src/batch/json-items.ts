// Shared by the JSON strategies: each request body must be exactly one JSON value. A body that is
// not is that caller's mistake alone, answered 400 while the rest of the batch goes ahead.
import { parseJson } from './json-raw.ts';
import { assertUniqueIds, rejectItem } from './merge-strategy.ts';
import type { ItemAnswer, MergeItem } from './merge-strategy.ts';

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
