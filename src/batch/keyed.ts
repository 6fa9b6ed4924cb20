// `keyed`: request bodies become one JSON object keyed by request id, `{ "<id>": <body>, … }`; the
// reply must be an object with the same keys. A missing key answers that caller 502, extra keys are
// ignored, and a reply that is not a JSON object answers everyone 502 with the reason. Unlike
// `json-array`, order and length never matter, so one lost item cannot shift the others.
import { checkJsonItem, jsonReplyToSplit, mergeJsonItems } from './json-items.ts';
import { objectMembers } from './json-raw.ts';
import { badReplyFor, JSON_CONTENT_TYPE } from './merge-strategy.ts';
import type { BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult } from './merge-strategy.ts';

export const keyed: MergeStrategy = {
  name: 'keyed',
  retrySafe: false,
  check: checkJsonItem,

  merge(items: readonly MergeItem[]): MergedRequest {
    return mergeJsonItems(items, (accepted) => `{${accepted.map((a) => `${JSON.stringify(a.id)}:${a.text}`).join(',')}}`);
  },

  split(reply: BatchReply, ids: readonly string[]): SplitResult {
    const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    const r = jsonReplyToSplit(reply, ids, isObject, 'a JSON object keyed by request id');
    if ('done' in r) return r.done;
    const members = objectMembers(r.text);
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
