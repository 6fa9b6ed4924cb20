// Which target serves a path: the longest matching prefix, on path-segment boundaries
// (`/llm` serves `/llm` and `/llm/x`, not `/llmx`).
import type { TargetRuntime } from '../actors/target-runtime.ts';

export class TargetTable {
  private readonly byName = new Map<string, TargetRuntime>();
  private ordered: TargetRuntime[] = [];

  get(name: string): TargetRuntime | undefined { return this.byName.get(name); }
  list(): TargetRuntime[] { return [...this.byName.values()]; }

  /** Adds or replaces; returns the runtime it replaced, for the caller to close. */
  set(t: TargetRuntime): TargetRuntime | undefined {
    const old = this.byName.get(t.name);
    this.byName.set(t.name, t);
    this.reorder();
    return old;
  }

  delete(name: string): TargetRuntime | undefined {
    const old = this.byName.get(name);
    this.byName.delete(name);
    this.reorder();
    return old;
  }

  /** The target whose prefix is the longest match, and the rest of the path after it. */
  resolve(path: string): { target: TargetRuntime; rest: string } | undefined {
    for (const t of this.ordered) {
      const p = t.config.prefix;
      if (p === '/') return { target: t, rest: path };
      if (path === p || path.startsWith(p + '/')) return { target: t, rest: path.slice(p.length) || '/' };
    }
    return undefined;
  }

  /** The target, other than `except`, already serving `prefix`. */
  prefixOwner(prefix: string, except: string): TargetRuntime | undefined {
    return this.ordered.find((t) => t.config.prefix === prefix && t.name !== except);
  }

  private reorder(): void {
    this.ordered = [...this.byName.values()].sort((a, b) => b.config.prefix.length - a.config.prefix.length);
  }
}
