// One proxied request, by its target's mode: the HTTP handlers call into the target runtime
// (src/actors/target-runtime.ts) and write what it answers. This is the only place that chooses
// between them, so the request path reads one way: http → actors, never back.
import type { TargetRuntime } from '../actors/target-runtime.ts';
import { cacheFront } from './cache-front.ts';
import { coalesce } from './coalesce.ts';
import { merge } from './merge.ts';
import { passThrough } from './pass-through.ts';
import type { RequestContext } from '../proxy/request-context.ts';

export function handleTarget(ctx: RequestContext, target: TargetRuntime): Promise<void> {
  // The response cache, when on, answers first; a miss comes back here as the request's own path.
  return target.cache ? cacheFront(ctx, target, target.cache, (c) => byMode(c, target)) : byMode(ctx, target);
}

function byMode(ctx: RequestContext, target: TargetRuntime): Promise<void> {
  const batching = target.batching;
  if (batching?.handles(ctx.method)) {
    return batching.mode === 'coalesce' ? coalesce(ctx, target, batching.coalesce) : merge(ctx, target, batching.merge);
  }
  return passThrough(ctx, target);
}
