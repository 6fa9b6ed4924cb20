// What strict-limit clients and the singleton holder say to each other. One request, `sync`, carries
// a node's running totals per (key, window) and how many more units it wants; the reply carries the
// holder's running total of units leased to that node. Totals instead of deltas make every message
// idempotent: core NATS is at-most-once and requests are retried, so a message may be lost, repeated
// or late, and none of that may count anything twice. A lost grant is re-delivered: the holder sees
// that the node's total is behind its own and sends the difference before granting anew.
import type { Json } from '../../bus/bus.ts';
import { subjectFor } from '../../bus/bus.ts';

export interface SyncItem {
  /** `<target>/<limit>/<client key>`: one budget. */
  readonly key: string;
  /** The limit and window as this node is configured; the holder accounts with them. */
  readonly limit: number;
  readonly windowMs: number;
  readonly windowId: number;
  /** Units this node was leased in this window so far, by any holder. */
  readonly received: number;
  /** Units this node gave back in this window so far (whether or not the holder heard). */
  readonly returned: number;
  /** Further units wanted now; 0 for a report or a return. */
  readonly want: number;
  /** How long the node keeps wanting what it was not granted, ms (its close wait): the holder's waitlist horizon. */
  readonly waitMs?: number | undefined;
  /** Asking for a window that starts up to this long from now, ms (the landing zone of a window edge: ./strict-landing.ts). */
  readonly aheadMs?: number | undefined;
}

export interface SyncRequest { readonly node: string; readonly items: readonly SyncItem[] }

export interface SyncGrant {
  readonly key: string;
  readonly windowId: number;
  /** The holder's running total of units leased to this node in this window. */
  readonly received: number;
  /** Units of the window the holder can still lease, after this answer. */
  readonly available: number;
}

export type SyncReply =
  | { readonly ok: true; readonly holder: string; readonly term: number; readonly items: readonly SyncGrant[]; readonly at?: number }
  | { readonly ok: false; readonly reason: 'not-holder' };

/** Broadcast by the holder when a window has nothing left: nodes give back what they will not use. */
export interface Exhausted { readonly key: string; readonly windowId: number }

export const MAX_SYNC_ITEMS = 512;
const MAX_KEY_LENGTH = 512;

export const syncSubject = (cluster: string, holder: string): string => subjectFor(cluster, `strict.${holder}.sync`);
export const exhaustedSubject = (cluster: string): string => subjectFor(cluster, 'strict.exhausted');
/**
 * Where the holder pushes units to a node it could not serve in full: when permits come back, it
 * leases them to the nodes still waiting, in the order they asked. Same shape as a sync reply.
 */
export const leaseSubject = (cluster: string, node: string): string => subjectFor(cluster, `strict.${node}.lease`);

/**
 * Who holds leases, as the holder's books name it: the node and when this client started. A node that
 * restarts (or a limit rebuilt on reload) starts from zero totals; under its bare id the holder would
 * see them behind its books and re-deliver what the earlier life received and may have spent — the
 * same permits twice. A new name makes the earlier life's leases a dead node's: counted as granted,
 * never given back (docs/strict-limits.md, "What a crash can lose").
 */
export const leaseHolderId = (nodeId: string, startedAt: number): string => `${nodeId}~${Math.floor(startedAt).toString(36)}`;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isKey = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_KEY_LENGTH;

function fields(d: Json | undefined): Record<string, Json> | undefined {
  return typeof d === 'object' && d !== null && !Array.isArray(d) ? d : undefined;
}

function parseItem(d: Json | undefined): SyncItem | undefined {
  const o = fields(d);
  if (!o || !isKey(o.key) || !isCount(o.limit) || !isCount(o.windowMs) || o.windowMs < 1 || !Number.isSafeInteger(o.windowId)
    || !isCount(o.received) || !isCount(o.returned) || !isCount(o.want) || o.returned > o.received) return undefined;
  if (o.waitMs !== undefined && (!isCount(o.waitMs) || o.waitMs > 600_000)) return undefined;
  if (o.aheadMs !== undefined && (!isCount(o.aheadMs) || o.aheadMs > 600_000)) return undefined;
  return {
    key: o.key, limit: o.limit, windowMs: o.windowMs, windowId: o.windowId as number, received: o.received, returned: o.returned, want: o.want,
    ...(o.waitMs !== undefined ? { waitMs: o.waitMs } : {}),
    ...(o.aheadMs !== undefined ? { aheadMs: o.aheadMs } : {}),
  };
}

export function parseSyncRequest(d: Json): SyncRequest | undefined {
  const o = fields(d);
  if (!o || !isKey(o.node) || !Array.isArray(o.items) || o.items.length > MAX_SYNC_ITEMS) return undefined;
  const items: SyncItem[] = [];
  for (const raw of o.items) {
    const item = parseItem(raw);
    if (!item) return undefined;
    items.push(item);
  }
  return { node: o.node, items };
}

export function parseSyncReply(d: Json): SyncReply | undefined {
  const o = fields(d);
  if (!o) return undefined;
  if (o.ok === false) return o.reason === 'not-holder' ? { ok: false, reason: 'not-holder' } : undefined;
  if (o.ok !== true || !isKey(o.holder) || !isCount(o.term) || !Array.isArray(o.items)) return undefined;
  const items: SyncGrant[] = [];
  for (const raw of o.items) {
    const g = fields(raw);
    if (!g || !isKey(g.key) || !Number.isSafeInteger(g.windowId) || !isCount(g.received) || !isCount(g.available)) return undefined;
    items.push({ key: g.key, windowId: g.windowId as number, received: g.received, available: g.available });
  }
  // `at`: the holder's clock when it answered; with the ask's send and receipt it bounds the clocks' difference.
  if (o.at !== undefined && (typeof o.at !== 'number' || !Number.isFinite(o.at))) return undefined;
  return { ok: true, holder: o.holder, term: o.term, items, ...(typeof o.at === 'number' ? { at: o.at } : {}) };
}

export function parseExhausted(d: Json): Exhausted | undefined {
  const o = fields(d);
  if (!o || !isKey(o.key) || !Number.isSafeInteger(o.windowId)) return undefined;
  return { key: o.key, windowId: o.windowId as number };
}

/** JSON form of a request (the bus carries Json). */
export const encodeSync = (r: SyncRequest): Json => ({ node: r.node, items: r.items.map((i) => ({ ...i, waitMs: i.waitMs ?? undefined }) as unknown as Json) });
export const encodeReply = (r: SyncReply): Json => (r.ok ? { ...r, items: r.items.map((i) => ({ ...i })) } : { ...r });
