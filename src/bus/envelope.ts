// Every bus message is `{"v":1,"d":<payload>}`: the schema version lets a newer node's messages be
// recognised and dropped by an older one instead of misread. Decoding never throws.
import type { Json } from './bus.ts';

export const SCHEMA_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encode(data: Json): Uint8Array {
  return encoder.encode(encodeText(data));
}

/** The envelope as text, before UTF-8: what the in-process bus carries (it has no wire to cross). */
export function encodeText(data: Json): string {
  return JSON.stringify({ v: SCHEMA_VERSION, d: data });
}

/** The payload, or undefined when the bytes are not a version-1 envelope. */
export function decode(bytes: Uint8Array): { data: Json } | undefined {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return undefined;
  }
  return decodeText(text);
}

/** `decode` for an envelope already in text form. */
export function decodeText(text: string): { data: Json } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const env = parsed as { v?: unknown; d?: unknown };
  if (env.v !== SCHEMA_VERSION || !('d' in env)) return undefined;
  return { data: env.d as Json };
}
