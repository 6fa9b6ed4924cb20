// Turns the `batch.merge` setting into a MergeStrategy: a built-in name, or a module (path or package)
// exporting `merge` and `split` — as named exports or on its default export. The module is checked
// once at load, naming what is wrong, and wrapped so that a faulty `split` answers its batch 502
// instead of throwing into the registry or leaving a caller unanswered.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.ts';
import { jsonArray } from './json-array.ts';
import { keyed } from './keyed.ts';
import { badReplyFor, completeSplit, failAll } from './merge-strategy.ts';
import type { BatchReply, ItemAnswer, MergedRequest, MergeItem, MergeStrategy, SplitResult } from './merge-strategy.ts';

export const BUILTIN_STRATEGIES: Readonly<Record<string, MergeStrategy>> = Object.freeze({
  [jsonArray.name]: jsonArray,
  [keyed.name]: keyed,
});

export interface LoadStrategyOptions {
  /** Relative module paths resolve from here: the config file's folder. Default: the working directory. */
  readonly baseDir?: string;
}

export async function loadMergeStrategy(spec: string, opts: LoadStrategyOptions = {}): Promise<MergeStrategy> {
  const builtin = BUILTIN_STRATEGIES[spec];
  if (builtin) return builtin;
  if (spec.trim() === '') throw new InvalidArgumentError(`'batch.merge' must be json-array, keyed or a module path, got ""`);
  let mod: unknown;
  try {
    mod = await import(moduleUrl(spec, opts.baseDir ?? process.cwd()));
  } catch (cause) {
    throw new InvalidArgumentError(
      `merge strategy module ${spec} could not be loaded (expected json-array, keyed or a module exporting merge and split): ${(cause as Error).message}`,
      { cause },
    );
  }
  return strategyFromModule(mod, spec);
}

/** Paths (`./x.js`, `/abs/x.js`, `file:` URLs) load as files; anything else as a package name. */
function moduleUrl(spec: string, baseDir: string): string {
  if (spec.startsWith('file:')) return spec;
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(baseDir, spec)).href;
  return spec;
}

/** Checks a loaded module's shape and wraps it. Exported for callers that import modules themselves. */
export function strategyFromModule(mod: unknown, source: string): MergeStrategy {
  const named = asRecord(mod);
  const def = asRecord(named?.['default']);
  const exports = typeof named?.['merge'] === 'function' || typeof named?.['split'] === 'function' ? named : def ?? named;
  const merge = exports?.['merge'];
  const split = exports?.['split'];
  const check = exports?.['check'];
  const name = exports?.['name'] ?? source;
  const retrySafe = exports?.['retrySafe'] ?? false;
  const problems = [
    typeof merge !== 'function' && `merge is ${kind(merge)}, expected a function`,
    typeof split !== 'function' && `split is ${kind(split)}, expected a function`,
    check !== undefined && typeof check !== 'function' && `check is ${kind(check)}, expected a function or nothing`,
    typeof name !== 'string' && `name is ${kind(name)}, expected a string or nothing`,
    typeof retrySafe !== 'boolean' && `retrySafe is ${kind(retrySafe)}, expected a boolean or nothing`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new InvalidArgumentError(`merge strategy module ${source} has the wrong shape: ${problems.join('; ')}`);
  }
  return guarded({
    name: name as string,
    retrySafe: retrySafe as boolean,
    merge: merge as MergeStrategy['merge'],
    split: split as MergeStrategy['split'],
    ...(check ? { check: check as NonNullable<MergeStrategy['check']> } : {}),
  });
}

function guarded(s: MergeStrategy): MergeStrategy {
  return {
    ...s,
    // A throwing merge is left to propagate: nothing has been sent, and the registry fails the batch.
    merge(items: readonly MergeItem[]): MergedRequest {
      const out = s.merge(items) as Partial<MergedRequest> | undefined;
      const body = toBytes(out?.body);
      if (!body || typeof out?.contentType !== 'string') {
        throw new InvalidArgumentError(`merge strategy ${s.name}: merge must return { body: Buffer, contentType: string }`);
      }
      return out.rejected instanceof Map ? { body, contentType: out.contentType, rejected: out.rejected } : { body, contentType: out.contentType };
    },
    split(reply: BatchReply, ids: readonly string[]): SplitResult {
      let out: Partial<SplitResult> | undefined;
      try {
        out = s.split(reply, ids);
      } catch (e) {
        return failAll(ids, `merge strategy ${s.name} failed to split the reply: ${(e as Error)?.message ?? String(e)}`);
      }
      if (!(out?.perItem instanceof Map)) return failAll(ids, `merge strategy ${s.name} returned no perItem map from split`);
      const perItem = new Map<string, ItemAnswer>();
      for (const [id, answer] of out.perItem) perItem.set(id, wellFormed(answer, s.name, id));
      return completeSplit({ perItem, ...(typeof out.error === 'string' ? { error: out.error } : {}) }, ids);
    },
  };
}

/** Status must be a real HTTP status and body bytes (a string is taken as UTF-8); anything else is 502. */
function wellFormed(a: unknown, strategy: string, id: string): ItemAnswer {
  const r = asRecord(a);
  const status = r?.['status'];
  const body = r?.['body'];
  const bytes = toBytes(body);
  if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599 || !bytes) {
    return badReplyFor(`merge strategy ${strategy} gave request ${id} a malformed answer`);
  }
  const contentType = r?.['contentType'];
  return typeof contentType === 'string' ? { status: status as number, body: bytes, contentType } : { status: status as number, body: bytes };
}

/** Custom modules may hand back a string or any Uint8Array; the rest of sluice gets a Buffer. */
const toBytes = (v: unknown): Buffer | undefined =>
  typeof v === 'string' ? Buffer.from(v)
    : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined;

const asRecord = (v: unknown): Record<string, unknown> | undefined =>
  (typeof v === 'object' && v !== null) || typeof v === 'function' ? (v as Record<string, unknown>) : undefined;

const kind = (v: unknown): string => (v === undefined ? 'missing' : v === null ? 'null' : typeof v);
