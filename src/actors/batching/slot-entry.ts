// One slot as the registry keeps it: its key, its waiters, its timers and call, and what moves it —
// its slot machine actor, or, until a second client joins, a lone flight (lone-flight.ts). The
// helpers here read the slot's state the same way whichever it is.
import type { TimerId } from '../../clock.ts';
import type { BatchKey } from '../../batch/index.ts';
import { acceptsJoins } from '../../machines/batch-slot.ts';
import { loneTakesJoins, type LoneFlight, type SlotActor } from './lone-flight.ts';
import type { SlotInfo, WaiterTicket } from './registry-types.ts';
import type { SlotWaiters } from './slot-waiters.ts';

export type SlotState = 'waiting' | 'serving' | 'streaming' | 'done';

export interface SlotEntry<P> {
  readonly slotId: string;
  readonly key: BatchKey;
  readonly createdAt: number;
  /** The slot machine actor; undefined while the slot is a lone flight. */
  actor: SlotActor | undefined;
  /** Set while the slot is a lone flight, cleared when it is promoted to an actor. */
  lone: LoneFlight | undefined;
  readonly waiters: SlotWaiters<P>;
  timer: TimerId | undefined;
  /** The policy's hold timer (policies with `holdMs`). */
  holdTimer: TimerId | undefined;
  abort: { abort(): void } | undefined;
  asking: boolean;
  /**
   * Clients the call answers: those in it at flush, joiners in flight, less those sent upstream on
   * their own. Grows as late joiners are served.
   */
  size: number;
  /** Serves a waiter joining while the reply's body streams (from the executor's fan-out). */
  lateJoin: ((waiter: P, slot: SlotInfo) => boolean) | undefined;
}

/** What moves a slot: its actor, or its lone flight. */
type Moved = Pick<SlotEntry<unknown>, 'actor' | 'lone'>;

export function stateOf(entry: Moved): SlotState {
  if (entry.actor) return entry.actor.getSnapshot().value;
  return entry.lone!.state;
}

/** Not yet done: it still takes events. */
export function isActive(entry: Moved): boolean {
  if (entry.actor) return entry.actor.getSnapshot().status === 'active';
  return entry.lone!.state !== 'done';
}

/** Whether a join sent now would be taken; when not, the registry opens a new slot for the key. */
export function takesJoins(entry: Moved): boolean {
  if (entry.actor) return acceptsJoins(entry.actor.getSnapshot());
  return loneTakesJoins(entry.lone!);
}

/** What a ticket needs of its registry. */
export interface SlotLeaver<P> { leaveSlot(slot: SlotEntry<P>, waiterId: string): void }

export class Ticket<P> implements WaiterTicket {
  private left = false;
  constructor(readonly waiterId: string, private readonly slot: SlotEntry<P>, private readonly registry: SlotLeaver<P>) {}
  get slotId(): string { return this.slot.slotId; }
  get inCall(): boolean { return this.slot.waiters.inCall(this.waiterId); }
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.registry.leaveSlot(this.slot, this.waiterId);
  }
}
