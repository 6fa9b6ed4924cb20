// Builds the enforcer of one configured limit. `mode: strict` uses `createStrictEnforcer` from
// ./strict-enforcer.ts when that module exists (loaded once, at node start, so no import cycle can
// stall module evaluation); until then a strict limit runs as approximate and says so in the log.
import type { LimitConfig, TargetConfig } from '../../config/schema.ts';
import type { StrictEnforcerFactory, TargetDeps } from '../target-deps.ts';
import { ApproximateEnforcer } from './approximate-enforcer.ts';
import type { LimitEnforcer } from './enforcer.ts';
import type { LimitGossip } from './gossip.ts';

export type { StrictEnforcerFactory } from '../target-deps.ts';

let loading: Promise<StrictEnforcerFactory | undefined> | undefined;

/** The strict factory, or undefined while ./strict-enforcer.ts does not exist. Memoized. */
export function loadStrictEnforcerFactory(): Promise<StrictEnforcerFactory | undefined> {
  // A computed specifier: the type checker must not require the module to exist.
  const specifier = new URL('./strict-enforcer.ts', import.meta.url).href;
  loading ??= (import(specifier) as Promise<{ createStrictEnforcer?: unknown }>).then(
    (m) => (typeof m.createStrictEnforcer === 'function' ? (m.createStrictEnforcer as StrictEnforcerFactory) : undefined),
    (err: NodeJS.ErrnoException) => {
      if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('strict-enforcer')) return undefined;
      throw err;
    },
  );
  return loading;
}

export interface EnforcerServices {
  gossip: LimitGossip;
  strict?: StrictEnforcerFactory | undefined;
  log: (line: string, fields?: Record<string, unknown>) => void;
}

export function createEnforcer(limit: LimitConfig, target: TargetConfig, deps: TargetDeps, services: EnforcerServices): LimitEnforcer {
  if (limit.mode === 'strict') {
    if (services.strict) return services.strict(limit, target, deps);
    services.log('strict limit runs as approximate: no strict enforcer on this node', { target: target.name, limit: limit.name });
  }
  return new ApproximateEnforcer({ id: `${target.name}/${limit.name}`, limit, syncMs: deps.cluster.syncMs, clock: deps.clock }, services.gossip);
}
