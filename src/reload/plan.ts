// What a config reload (SIGHUP, or an admin PUT of one target) changes, decided from the running
// config and the new one alone. Pure: no runtimes, no I/O. A target whose config is unchanged keeps
// its runtime; a changed one gets a new runtime that takes over, from the old, the state of the parts
// whose config did not change (carryOverOf). Node-level keys that cannot change live are reported.
import { isDeepStrictEqual } from 'node:util';
import type { Config, TargetConfig } from '../config/schema.ts';

export interface TargetCarryOver {
  /** Replica ids (as the dispatcher names them) whose URL and breaker config are unchanged: breakers kept. */
  readonly breakers: readonly string[];
  /** Limit names whose config is unchanged: their enforcers (windows, leases, queues) kept. */
  readonly limits: readonly string[];
  /** The `cache` section (and `public`) is unchanged and the cache on: the store and its entries kept. */
  readonly cache: boolean;
}

export interface ReloadPlan {
  readonly added: readonly TargetConfig[];
  readonly removed: readonly string[];
  readonly changed: ReadonlyArray<{ readonly config: TargetConfig; readonly carry: TargetCarryOver }>;
  readonly unchanged: readonly string[];
  /** Keys that only take effect on a restart: reported, not applied. */
  readonly restartNeeded: ReadonlyArray<{ readonly path: string; readonly running: unknown; readonly file: unknown }>;
  /** The config the node runs after the reload: the file's, with the restart-only keys as running. */
  readonly next: Config;
}

/** Sections and keys a running node cannot change: its listener, identity, cluster and bus. */
const RESTART_ONLY: ReadonlyArray<readonly [section: 'node' | 'cluster' | 'nats', key?: string]> = [
  ['node', 'id'], ['node', 'host'], ['node', 'port'], ['cluster'], ['nats'],
];

export function planReload(running: Config, file: Config): ReloadPlan {
  const restartNeeded: Array<{ path: string; running: unknown; file: unknown }> = [];
  const next: Record<string, any> = { ...file, node: { ...file.node } };
  for (const [section, key] of RESTART_ONLY) {
    const a = key ? (running[section] as Record<string, unknown> | undefined)?.[key] : running[section];
    const b = key ? (file[section] as Record<string, unknown> | undefined)?.[key] : file[section];
    if (isDeepStrictEqual(a, b)) continue;
    restartNeeded.push({ path: key ? `${section}.${key}` : section, running: a, file: b });
    if (key) next[section] = { ...next[section], [key]: a };
    else next[section] = a;
  }
  const before = new Map(running.targets.map((t) => [t.name, t]));
  const after = new Set(file.targets.map((t) => t.name));
  const added: TargetConfig[] = [];
  const changed: Array<{ config: TargetConfig; carry: TargetCarryOver }> = [];
  const unchanged: string[] = [];
  for (const t of file.targets) {
    const old = before.get(t.name);
    if (!old) added.push(t);
    else if (isDeepStrictEqual(old, t)) unchanged.push(t.name);
    else changed.push({ config: t, carry: carryOverOf(old, t) });
  }
  const removed = running.targets.filter((t) => !after.has(t.name)).map((t) => t.name);
  return { added, removed, changed, unchanged, restartNeeded, next: next as Config };
}

/** What a new runtime for `next` may take over from the runtime of `prev` (same target name). */
export function carryOverOf(prev: TargetConfig, next: TargetConfig): TargetCarryOver {
  const sameBreaker = isDeepStrictEqual(prev.breaker, next.breaker);
  const prevIds = new Set(replicaIds(prev.replicas));
  const breakers = sameBreaker ? replicaIds(next.replicas).filter((id) => prevIds.has(id)) : [];
  const prevLimits = new Map(prev.limits.map((l) => [l.name, l]));
  const limits = next.limits.filter((l) => isDeepStrictEqual(prevLimits.get(l.name), l)).map((l) => l.name);
  // The live cache holds `public` too (it decides what may be shared).
  const cache = prev.cache.enabled && isDeepStrictEqual(prev.cache, next.cache) && prev.public === next.public;
  return { breakers, limits, cache };
}

/** Replica ids as the dispatcher gives them: the URL, with `#i` for a URL listed again. */
export function replicaIds(replicas: readonly string[]): string[] {
  const seen = new Set<string>();
  return replicas.map((url, i) => {
    const id = seen.has(url) ? `${url}#${i}` : url;
    seen.add(url);
    return id;
  });
}
