// `json-array`: request bodies become one JSON array, in order; the reply must be an array of the
// same length and element i answers request i. A short reply answers the missing tail 502 and the
// rest normally; a reply that is not a JSON array answers everyone 502 with the reason.
import { acceptJsonItems, checkJsonItem } from './json-items.ts';
import { arrayElements, describeJson, parseJson } from './json-raw.ts';
import {
  assertUniqueIds, badReplyFor, failAll, isSuccess, JSON_CONTENT_TYPE, passThroughAll,
} from './merge-strategy.ts';
import type { BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult } from './merge-strategy.ts';

export const jsonArray: MergeStrategy = {
  name: 'json-array',
  // Built-ins cannot know whether the upstream treats a batch as idempotent; a custom strategy can say so.
  retrySafe: false,
  check: checkJsonItem,

  merge(items: readonly MergeItem[]): MergedRequest {
    const { accepted, rejected } = acceptJsonItems(items);
    const body = Buffer.from(`[${accepted.map((a) => a.text).join(',')}]`);
    return rejected.size > 0 ? { body, contentType: JSON_CONTENT_TYPE, rejected } : { body, contentType: JSON_CONTENT_TYPE };
  },

  split(reply: BatchReply, ids: readonly string[]): SplitResult {
    assertUniqueIds(ids);
    if (!isSuccess(reply.status)) return passThroughAll(reply, ids);
    const parsed = parseJson(reply.body);
    if (!parsed.ok) return failAll(ids, `batch reply ${parsed.reason}`);
    if (!Array.isArray(parsed.value)) {
      return failAll(ids, `batch reply is ${describeJson(parsed.value)}, expected a JSON array of ${ids.length} items`);
    }
    const elements = arrayElements(parsed.text);
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
