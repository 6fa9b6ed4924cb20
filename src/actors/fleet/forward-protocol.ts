// The wire format of fleet-scope forwarding (issue #10): a non-owner hands a coalesced flight to the
// key's owner and the owner streams the reply back. Every message carries the protocol version `p`
// (inside the bus envelope's own version); a message that fails to parse is dropped and counted by
// the receiver, never thrown. Bodies travel base64 in chunks of at most `chunkBytes`, well under
// NATS's `max_payload` (1 MiB in nats.conf; base64 adds a third).
//
// To the owner, on `sluice.<cluster>.fwd.<owner>`:
//   open   (as a bus request: the reply is the ack)  the request head, and its body when it fits
//   part   the rest of the body, numbered from 1
//   cancel every local waiter left: the owner's waiter leaves too
// To the requester, on `sluice.<cluster>.fwd.reply.<requester>`:
//   head   status, headers and the first body bytes; `end` when that is all of it
//   body   the next bytes, numbered from 1; `end` on the last
//   abort  the owner's reply failed mid-body
//   alive  every few hundred ms while the owner holds requests of this requester: their ids
import type { Json } from '../../bus/bus.ts';
import type { HeaderMap } from '../../proxy/headers.ts';

export const FORWARD_PROTOCOL = 1;
/** Raw bytes per message; 256 KiB becomes ~342 KiB of base64, a third of NATS's default max_payload. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export interface OpenMsg {
  t: 'open'; id: string; from: string; target: string;
  method: string; path: string; query: string; headers: HeaderMap;
  /** The original client's address and scheme, for X-Forwarded-* at the owner. */
  ip: string; tls: boolean;
  /** Total body bytes, the first of them inline, and how many `part` messages follow. */
  size: number; body: string; parts: number;
  /** How many clients wait on this flight at the requester (for X-Sluice-Batch sizes). */
  clients: number;
}
export interface PartMsg { t: 'part'; id: string; from: string; seq: number; data: string }
export interface CancelMsg { t: 'cancel'; id: string; from: string }
export type ToOwner = OpenMsg | PartMsg | CancelMsg;

export type AckMsg = { t: 'ack' } | { t: 'nack'; reason: string };

export interface HeadMsg { t: 'head'; id: string; from: string; status: number; headers: HeaderMap; data: string; end: boolean }
export interface BodyMsg { t: 'body'; id: string; from: string; seq: number; data: string; end: boolean }
export interface AbortMsg { t: 'abort'; id: string; from: string }
export interface AliveMsg { t: 'alive'; from: string; ids: string[] }
export type ToRequester = HeadMsg | BodyMsg | AbortMsg | AliveMsg;

export const ownerSubject = (cluster: string, owner: string): string => `sluice.${cluster}.fwd.${owner}`;
export const replySubject = (cluster: string, requester: string): string => `sluice.${cluster}.fwd.reply.${requester}`;

export const wire = (m: ToOwner | ToRequester | AckMsg): Json => ({ p: FORWARD_PROTOCOL, ...m } as unknown as Json);

// ---- parsing: every field checked, anything else undefined ----

type Obj = Record<string, Json>;
const MAX_ID = 128;
const MAX_HEADERS = 256;

const obj = (d: Json): Obj | undefined =>
  typeof d === 'object' && d !== null && !Array.isArray(d) && (d as Obj).p === FORWARD_PROTOCOL ? d as Obj : undefined;
const str = (v: Json | undefined, max = 65_536): v is string => typeof v === 'string' && v.length <= max;
const id = (v: Json | undefined): v is string => str(v, MAX_ID) && v.length > 0;
const int = (v: Json | undefined, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const bool = (v: Json | undefined): v is boolean => typeof v === 'boolean';
const b64 = (v: Json | undefined): v is string => typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v);

function headers(v: Json | undefined): HeaderMap | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const names = Object.keys(v);
  if (names.length > MAX_HEADERS) return undefined;
  const out: HeaderMap = {};
  for (const n of names) {
    const x = (v as Obj)[n];
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(n)) return undefined;
    if (typeof x === 'string') out[n] = x;
    else if (Array.isArray(x) && x.every((s) => typeof s === 'string')) out[n] = x as string[];
    else return undefined;
  }
  return out;
}

export function parseToOwner(d: Json): ToOwner | undefined {
  const m = obj(d);
  if (!m || !id(m.id) || !id(m.from)) return undefined;
  switch (m.t) {
    case 'open': {
      const h = headers(m.headers);
      if (!h || !id(m.target) || !str(m.method, 32) || !/^[A-Z]+$/.test(m.method) || !str(m.path) || !m.path.startsWith('/')) return undefined;
      if (!str(m.query) || !str(m.ip, 64) || !bool(m.tls) || !int(m.size) || !b64(m.body) || !int(m.parts) || !int(m.clients, 1)) return undefined;
      return { t: 'open', id: m.id, from: m.from, target: m.target, method: m.method, path: m.path, query: m.query, headers: h,
        ip: m.ip, tls: m.tls, size: m.size, body: m.body, parts: m.parts, clients: m.clients };
    }
    case 'part':
      return int(m.seq, 1) && b64(m.data) ? { t: 'part', id: m.id, from: m.from, seq: m.seq, data: m.data } : undefined;
    case 'cancel':
      return { t: 'cancel', id: m.id, from: m.from };
    default:
      return undefined;
  }
}

export function parseAck(d: Json): AckMsg | undefined {
  const m = obj(d);
  if (m?.t === 'ack') return { t: 'ack' };
  if (m?.t === 'nack' && str(m.reason, 256)) return { t: 'nack', reason: m.reason };
  return undefined;
}

export function parseToRequester(d: Json): ToRequester | undefined {
  const m = obj(d);
  if (!m || !id(m.from)) return undefined;
  if (m.t === 'alive') {
    return Array.isArray(m.ids) && m.ids.length <= 100_000 && m.ids.every((x) => id(x)) ? { t: 'alive', from: m.from, ids: m.ids as string[] } : undefined;
  }
  if (!id(m.id)) return undefined;
  switch (m.t) {
    case 'head': {
      const h = headers(m.headers);
      if (!h || !int(m.status) || m.status < 100 || m.status > 999 || !b64(m.data) || !bool(m.end)) return undefined;
      return { t: 'head', id: m.id, from: m.from, status: m.status, headers: h, data: m.data, end: m.end };
    }
    case 'body':
      return int(m.seq, 1) && b64(m.data) && bool(m.end) ? { t: 'body', id: m.id, from: m.from, seq: m.seq, data: m.data, end: m.end } : undefined;
    case 'abort':
      return { t: 'abort', id: m.id, from: m.from };
    default:
      return undefined;
  }
}

/** Splits `body` into an inline first chunk and the parts after it. */
export function chunk(body: Buffer | undefined, chunkBytes: number): string[] {
  if (!body || body.length === 0) return [''];
  const out: string[] = [];
  for (let at = 0; at < body.length; at += chunkBytes) out.push(body.subarray(at, at + chunkBytes).toString('base64'));
  return out;
}

/** One flight as it crosses the bus; the owner sees it as a ForwardedRequest. */
export interface ForwardedCall {
  target: string;
  method: string;
  path: string;
  query: string;
  /** The leader's request headers, end to end (credentials included: they are in the key). */
  headers: HeaderMap;
  ip: string;
  tls: boolean;
  body?: Buffer | undefined;
  /** Clients this flight answers at the forwarding node. */
  clients: number;
}
