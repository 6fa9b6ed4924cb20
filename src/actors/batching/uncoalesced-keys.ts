// Keys that pass through uncoalesced for a while, because their last shared reply turned out private
// (Set-Cookie, Cache-Control: private / no-store): the next reply most likely is too, and holding
// callers in a slot only to send them upstream one by one afterwards would cost them the wait.
// Every entry has the same TTL, so insertion order is expiry order and a sweep stops at the first
// live entry: memory stays bounded by the keys marked within one TTL.
import type { BatchKey } from '../../batch/index.ts';

export class UncoalescedKeys {
  private readonly until = new Map<BatchKey, number>();

  constructor(private readonly ttlMs: number) {}

  get size(): number { return this.until.size; }

  mark(key: BatchKey, now: number): void {
    this.until.delete(key); // re-inserted at the end, keeping expiry order
    this.until.set(key, now + this.ttlMs);
    this.sweep(now);
  }

  has(key: BatchKey, now: number): boolean {
    this.sweep(now);
    return this.until.has(key);
  }

  sweep(now: number): void {
    for (const [key, at] of this.until) {
      if (at > now) break;
      this.until.delete(key);
    }
  }
}
