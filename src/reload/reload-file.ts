// SIGHUP: read the config file again and apply it to the running node, or refuse it. A file that
// fails validation changes nothing; its errors are logged with the same path-named issues a bad file
// gets at start. Keys that only a restart can apply are logged as such.
import type { Config } from '../config/schema.ts';
import { InvalidConfigError } from '../errors.ts';
import type { NodeLog } from '../log/logger.ts';
import type { SluiceNode } from '../node.ts';
import type { ReloadPlan } from './plan.ts';

export type ReloadOutcome = { ok: true; plan: ReloadPlan } | { ok: false; error: unknown };

/** `load` reads and validates the file (with env and flags over it), throwing InvalidConfigError. */
export function reloadFromFile(node: SluiceNode, load: () => Config, logs: NodeLog, file: string | undefined): ReloadOutcome {
  let next: Config;
  try {
    next = load();
  } catch (error) {
    const issues = error instanceof InvalidConfigError ? error.issues : undefined;
    logs.pino.error({ file, issues, ...(issues ? {} : { error: String(error) }) },
      `config reload refused, the running config stays: ${(error as Error)?.message ?? String(error)}`);
    return { ok: false, error };
  }
  const plan = node.reload(next);
  logs.configure(plan.next.log);
  for (const r of plan.restartNeeded) {
    logs.pino.warn({ path: r.path, running: r.running, file: r.file }, `restart needed: ${r.path} changed in the file; the running node keeps its value`);
  }
  logs.pino.info({
    file, added: plan.added.map((t) => t.name), removed: plan.removed, unchanged: plan.unchanged,
    changed: plan.changed.map((c) => ({ target: c.config.name, kept: c.carry })),
  }, 'config reloaded');
  return { ok: true, plan };
}
