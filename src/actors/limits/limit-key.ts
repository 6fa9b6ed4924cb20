// Which counter a request spends from, for one limit. `per: target` shares one key across every
// client (it protects the upstream); `per: ip` keys by the socket peer; `per: {header}` keys by the
// header's value, hashed: keys travel in gossip, and an API key must never be published on the bus.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { LimitConfig } from '../../config/schema.ts';

/** The one key of a `per: target` limit. */
export const TARGET_KEY = 'target';

/** The parts of a request a key is read from. */
export interface KeySource {
  clientIp: string;
  headers: IncomingHttpHeaders;
}

export const isPerTarget = (per: LimitConfig['per']): per is 'target' => per === 'target';

/**
 * The key for `per`. A missing header is its own key (""): clients that do not identify themselves
 * share one budget rather than escaping the limit.
 */
export function limitKey(per: LimitConfig['per'], source: KeySource): string {
  if (per === 'target') return TARGET_KEY;
  if (per === 'ip') return `ip:${source.clientIp}`;
  const raw = source.headers[per.header];
  const value = Array.isArray(raw) ? raw.join(', ') : raw ?? '';
  return value === '' ? 'h:' : `h:${hashValue(value)}`;
}

/** 128 bits of SHA-256 in base64url: no collision in practice, 22 characters per key on the wire. */
function hashValue(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}
