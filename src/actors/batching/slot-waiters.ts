// The clients waiting in one slot, grouped into cohorts: the clients that join a slot within one
// event-loop turn enter its slot machine together, as one machine waiter. A burst of a thousand
// requests read in a few turns then costs the machine a few events instead of a thousand (each event
// is an xstate macrostep that copies the machine's waiter list), while every client keeps its own
// place: the registry counts clients for the size guard, and a cohort leaves the machine only when its
// last client has left, so "the call is aborted when every waiter has left" still means every client.
//
// Clients joining a call already in flight, before its head, all share one cohort however many turns
// they arrive over (a steady stream brings one a turn): the machine takes one event for them all
// instead of one each, which had made every such join copy the slot's waiter list (O(n²) per call).
//
// Order is kept: cohorts in the order they joined, clients within a cohort in the order they came.

export interface Cohort {
  /** The machine's waiter id for this cohort. */
  readonly id: string;
  readonly members: Set<string>;
}

interface Held<P> {
  readonly payload: P;
  readonly cohort: Cohort;
  inCall: boolean;
}

export class SlotWaiters<P> {
  private readonly byId = new Map<string, Held<P>>();
  private readonly cohorts = new Map<string, Cohort>();
  private open: Cohort | undefined;
  /** The cohort of clients that joined the call in flight before its head. */
  private flight: Cohort | undefined;
  private seq = 0;

  /** Clients still waiting (not answered elsewhere). */
  get size(): number { return this.byId.size; }

  /**
   * Adds a client to the open cohort, opening one when there is none. Returns the cohort when it
   * is new: the machine must then be told it joined.
   */
  add(waiterId: string, payload: P): Cohort | undefined {
    const fresh = this.open ? undefined : (this.open = this.newCohort());
    this.put(waiterId, payload, this.open);
    return fresh;
  }

  /**
   * Adds a client joining the call in flight before its head to the flight's cohort, opening it when
   * there is none. Returns the cohort when it is new: the machine must then be told it joined.
   */
  addInFlight(waiterId: string, payload: P): Cohort | undefined {
    const fresh = this.flight ? undefined : (this.flight = this.newCohort());
    this.put(waiterId, payload, this.flight);
    return fresh;
  }

  /** Adds a client in a cohort of its own, leaving the open cohort open. Returns that cohort. */
  addAlone(waiterId: string, payload: P): Cohort {
    const cohort = this.newCohort();
    this.put(waiterId, payload, cohort);
    return cohort;
  }

  private newCohort(): Cohort {
    const cohort: Cohort = { id: `c${this.seq++}`, members: new Set() };
    this.cohorts.set(cohort.id, cohort);
    return cohort;
  }

  private put(waiterId: string, payload: P, cohort: Cohort): void {
    cohort.members.add(waiterId);
    this.byId.set(waiterId, { payload, cohort, inCall: false });
  }

  /** A cohort is taking joins (until the turn ends or the slot flushes). */
  get cohortOpen(): boolean { return this.open !== undefined; }

  /** The turn is over: later joins open a new cohort. */
  closeCohort(): void { this.open = undefined; }

  /** Removes a client. Returns its cohort's id when the cohort is now empty: the machine must be told it left. */
  remove(waiterId: string): string | undefined {
    const held = this.byId.get(waiterId);
    if (!held) return undefined;
    this.byId.delete(waiterId);
    held.cohort.members.delete(waiterId);
    if (held.cohort.members.size > 0) return undefined;
    this.cohorts.delete(held.cohort.id);
    if (this.open === held.cohort) this.open = undefined;
    if (this.flight === held.cohort) this.flight = undefined;
    return held.cohort.id;
  }

  has(waiterId: string): boolean { return this.byId.has(waiterId); }

  inCall(waiterId: string): boolean { return this.byId.get(waiterId)?.inCall ?? false; }

  /** The payloads of the clients in these cohorts (machine waiter ids), in order. `markInCall` flags them as in the call. */
  expand(cohortIds: Iterable<string>, markInCall = false): P[] {
    const out: P[] = [];
    for (const id of cohortIds) {
      const cohort = this.cohorts.get(id);
      if (!cohort) continue;
      for (const waiterId of cohort.members) {
        const held = this.byId.get(waiterId)!;
        if (markInCall) held.inCall = true;
        out.push(held.payload);
      }
    }
    return out;
  }

  clear(): void {
    this.byId.clear();
    this.cohorts.clear();
    this.open = undefined;
    this.flight = undefined;
  }
}
