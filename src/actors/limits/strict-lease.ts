// What one node holds of one strict key's window: running totals (the only thing the holder is ever
// told), the pool of unspent permits, and a debt when a reply used more tokens than were reserved.
// Invariant: received = spent + pool + returned − debt, with every term non-negative.

export interface WindowLease {
  readonly windowId: number;
  /** Units leased to this node in the window so far, by any holder. */
  received: number;
  /** Units this node gave back in the window so far (told to the holder or not yet). */
  returned: number;
  /** Units held and not yet spent. */
  pool: number;
  /** Units spent beyond what was leased (a reply used more tokens than estimated); paid from the next grants. */
  debt: number;
  /** What the holder last said it could still lease in this window. */
  available: number | undefined;
  /** The holder has nothing left to lease in this window (it said so): hold only what will be used. */
  scarce: boolean;
}

export const newLease = (windowId: number): WindowLease =>
  ({ windowId, received: 0, returned: 0, pool: 0, debt: 0, available: undefined, scarce: false });

/**
 * The holder's running total of units leased to this node: takes only what is new (a repeated, late
 * or reordered answer adds nothing), pays the debt first, pools the rest. Returns the new units.
 */
export function receive(lease: WindowLease, total: number, available: number): number {
  lease.available = available;
  if (available === 0) lease.scarce = true;
  const fresh = total - lease.received;
  if (fresh <= 0) return 0;
  lease.received += fresh;
  const toDebt = Math.min(lease.debt, fresh);
  lease.debt -= toDebt;
  lease.pool += fresh - toDebt;
  return fresh;
}

/** Gives `units` of the pool back (the holder hears with the next sync). */
export function giveBack(lease: WindowLease, units: number): void {
  lease.pool -= units;
  lease.returned += units;
}

/**
 * After the call: `actual` units were spent where `estimated` were reserved. Less: the rest goes
 * back to the pool while the window lasts (after it, it is only counted as returned). More: taken
 * from the pool, the rest owed.
 */
export function settle(lease: WindowLease, estimated: number, actual: number, windowIsCurrent: boolean): void {
  if (actual < estimated) {
    const back = estimated - actual;
    if (windowIsCurrent) lease.pool += back;
    else lease.returned = Math.min(lease.received, lease.returned + back);
    return;
  }
  const more = actual - estimated;
  const take = Math.min(lease.pool, more);
  lease.pool -= take;
  lease.debt += more - take;
}
