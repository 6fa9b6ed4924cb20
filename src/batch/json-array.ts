// `json-array`: request bodies become one JSON array, in order; the reply must be an array of the
// same length and element i answers request i. A short reply answers the missing tail 502 and the
// rest normally; a reply that is not a JSON array answers everyone 502 with the reason.
import { checkJsonItem, jsonReplyToSplit, mergeJsonItems } from './json-items.ts';
import { arrayElements } from './json-raw.ts';
import { badReplyFor, JSON_CONTENT_TYPE } from './merge-strategy.ts';
import type { BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult } from './merge-strategy.ts';

export const jsonArray: MergeStrategy = {
  name: 'json-array',
  // Built-ins cannot know whether the upstream treats a batch as idempotent; a custom strategy can say so.
  retrySafe: false,
  check: checkJsonItem,

  merge(items: readonly MergeItem[]): MergedRequest {
    return mergeJsonItems(items, (accepted) => `[${accepted.map((a) => a.text).join(',')}]`);
  },

  split(reply: BatchReply, ids: readonly string[]): SplitResult {
    const r = jsonReplyToSplit(reply, ids, Array.isArray, `a JSON array of ${ids.length} items`);
    if ('done' in r) return r.done;
    const elements = arrayElements(r.text);
    const perItem = new Map<string, ItemAnswer>();
    ids.forEach((id, i) => {
      const element = elements[i];
      perItem.set(id, element === undefined
        ? badReplyFor(`batch reply has ${elements.length} items for ${ids.length} requests; item ${i} is missing`)
        : { status: reply.status, body: Buffer.from(element), contentType: JSON_CONTENT_TYPE });
    });
    return elements.length === ids.length
      ? { perItem }
      : { perItem, error: `batch reply has ${elements.length} items for ${ids.length} requests` };
  },
};
