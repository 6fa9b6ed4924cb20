// A candidate's or holder's open rounds: every vote request it broadcasts is one, and the votes it
// gathers win a lease that runs from the round's send (no voter can have promised earlier), so a
// round older than a lease can win nothing and is forgotten. Pure.

export interface Round { readonly id: number; readonly sentAt: number; readonly votes: Set<string> }

export class VoteRounds {
  private nextId = 1;
  private readonly open = new Map<number, Round>();

  /** A new round sent at `sentAt`; its id goes in the request. */
  start(sentAt: number): Round {
    const round: Round = { id: this.nextId++, sentAt, votes: new Set() };
    this.open.set(round.id, round);
    return round;
  }

  get(id: number): Round | undefined { return this.open.get(id); }

  /** Forgets rounds sent more than `maxAgeMs` before `now`. */
  prune(now: number, maxAgeMs: number): void {
    for (const [id, r] of this.open) if (now - r.sentAt > maxAgeMs) this.open.delete(id);
  }

  clear(): void { this.open.clear(); }
}
