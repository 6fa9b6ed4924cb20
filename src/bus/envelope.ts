// Every bus message is `{"v":1,"d":<payload>}`: the schema version lets a newer node's messages be
// recognised and dropped by an older one instead of misread. Decoding never throws.
import type { Json } from './bus.ts';

export const SCHEMA_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encode(data: Json): Uint8Array {
  return encoder.encode(JSON.stringify({ v: SCHEMA_VERSION, d: data }));
}

/** The payload, or undefined when the bytes are not a version-1 envelope. */
export function decode(bytes: Uint8Array): { data: Json } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const env = parsed as { v?: unknown; d?: unknown };
  if (env.v !== SCHEMA_VERSION || !('d' in env)) return undefined;
  return { data: env.d as Json };
}
