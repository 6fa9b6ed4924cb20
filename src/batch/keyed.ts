// `keyed`: request bodies become one JSON object keyed by request id, `{ "<id>": <body>, … }`; the
// reply must be an object with the same keys. A missing key answers that caller 502, extra keys are
// ignored, and a reply that is not a JSON object answers everyone 502 with the reason. Unlike
// `json-array`, order and length never matter, so one lost item cannot shift the others.
import { acceptJsonItems, checkJsonItem } from './json-items.ts';
import { describeJson, objectMembers, parseJson } from './json-raw.ts';
import {
  assertUniqueIds, badReplyFor, failAll, isSuccess, JSON_CONTENT_TYPE, passThroughAll,
} from './merge-strategy.ts';
import type { BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult } from './merge-strategy.ts';

export const keyed: MergeStrategy = {
  name: 'keyed',
  retrySafe: false,
  check: checkJsonItem,

  merge(items: readonly MergeItem[]): MergedRequest {
    const { accepted, rejected } = acceptJsonItems(items);
    const body = Buffer.from(`{${accepted.map((a) => `${JSON.stringify(a.id)}:${a.text}`).join(',')}}`);
    return rejected.size > 0 ? { body, contentType: JSON_CONTENT_TYPE, rejected } : { body, contentType: JSON_CONTENT_TYPE };
  },

  split(reply: BatchReply, ids: readonly string[]): SplitResult {
    assertUniqueIds(ids);
    if (!isSuccess(reply.status)) return passThroughAll(reply, ids);
    const parsed = parseJson(reply.body);
    if (!parsed.ok) return failAll(ids, `batch reply ${parsed.reason}`);
    if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
      return failAll(ids, `batch reply is ${describeJson(parsed.value)}, expected a JSON object keyed by request id`);
    }
    const members = objectMembers(parsed.text);
    const perItem = new Map<string, ItemAnswer>();
    const missing: string[] = [];
    for (const id of ids) {
      const value = members.get(id);
      if (value === undefined) missing.push(id);
      perItem.set(id, value === undefined
        ? badReplyFor(`batch reply has no member for request ${id}`)
        : { status: reply.status, body: Buffer.from(value), contentType: JSON_CONTENT_TYPE });
    }
    return missing.length === 0 ? { perItem } : { perItem, error: `batch reply has no member for ${missing.length} of ${ids.length} requests` };
  },
};
