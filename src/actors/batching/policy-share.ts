// Shares an adaptive policy's learned state over the bus, so a node that joins starts warm.
// Every `shareMs` each node publishes its target's state on `sluice.<cluster>.policy.state.<target>`
// and blends in what its peers publish (by evidence: see adaptive-policy.ts `loadState`). A node
// that starts asks its peers once (`policy.state.get.<target>`) instead of waiting a round.
// Best effort like gossip: a lost or malformed state is counted and skipped, never thrown.
import { subjectFor, type Bus, type Json, type Subscription } from '../../bus/bus.ts';
import type { AdaptivePolicy } from '../../batch/index.ts';
import type { Clock, TimerId } from '../../clock.ts';

export interface PolicyShareOptions {
  readonly bus: Bus;
  readonly cluster: string;
  readonly nodeId: string;
  readonly target: string;
  readonly policy: AdaptivePolicy;
  readonly clock: Clock;
  /** How often the state is published; 0 turns sharing off. */
  readonly shareMs: number;
  /** How long the start-up ask waits for a peer. */
  readonly askTimeoutMs?: number;
  readonly onMalformed?: () => void;
}

export interface PolicyShare {
  /** Resolves once the start-up ask has been answered or given up. */
  readonly warmed: Promise<boolean>;
  stop(): void;
}

export function sharePolicyState(o: PolicyShareOptions): PolicyShare {
  const stateSubject = subjectFor(o.cluster, `policy.state.${o.target}`);
  const askSubject = subjectFor(o.cluster, `policy.state.get.${o.target}`);
  const mine = (): Json => ({ from: o.nodeId, state: o.policy.exportState() as unknown as Json });
  const blend = (data: Json): boolean => {
    if (typeof data !== 'object' || data === null || Array.isArray(data) || data['from'] === o.nodeId) return false;
    try {
      o.policy.loadState(data['state'], 'blend');
      return true;
    } catch {
      o.onMalformed?.();
      return false;
    }
  };
  const subs: Subscription[] = [
    o.bus.subscribe(stateSubject, (msg) => { blend(msg.data); }),
    o.bus.subscribe(askSubject, (msg) => {
      const from = typeof msg.data === 'object' && msg.data !== null && !Array.isArray(msg.data) ? msg.data['from'] : undefined;
      if (from !== o.nodeId && o.policy.learned.observations > 0) msg.respond?.(mine());
    }),
  ];
  let timer: TimerId | undefined;
  let stopped = false;
  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    if (o.policy.learned.observations > 0) o.bus.publish(stateSubject, mine());
    timer = o.clock.setTimeout(tick, o.shareMs);
  };
  if (o.shareMs > 0) timer = o.clock.setTimeout(tick, o.shareMs);
  const warmed = o.shareMs > 0
    ? o.bus.request(askSubject, { from: o.nodeId }, o.askTimeoutMs ?? 1_000).then((data) => blend(data), () => false)
    : Promise.resolve(false);
  return {
    warmed,
    stop(): void {
      stopped = true;
      if (timer !== undefined) o.clock.clearTimeout(timer);
      for (const s of subs) s.unsubscribe();
    },
  };
}
