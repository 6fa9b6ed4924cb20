// The wire form of one key's variants for the shared (JetStream) tier: a length-prefixed JSON head
// (every field but the bodies) followed by the bodies, so binary bodies travel without base64.
// `decodeVariants` rejects anything malformed with null: a bad value in the bucket is a miss, never a crash.
import type { CachedEntry } from './entry.ts';

const VERSION = 1;

export function encodeVariants(variants: readonly CachedEntry[]): Uint8Array {
  const head = Buffer.from(JSON.stringify({ v: VERSION, entries: variants.map(({ body, ...rest }) => ({ ...rest, bodyBytes: body.byteLength })) }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([len, head, ...variants.map((e) => e.body)]);
}

export function decodeVariants(data: Uint8Array): CachedEntry[] | null {
  try {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (buf.length < 4) return null;
    const headLen = buf.readUInt32BE(0);
    if (4 + headLen > buf.length) return null;
    const head = JSON.parse(buf.subarray(4, 4 + headLen).toString('utf8')) as { v?: unknown; entries?: unknown };
    if (head.v !== VERSION || !Array.isArray(head.entries)) return null;
    let at = 4 + headLen;
    const out: CachedEntry[] = [];
    for (const raw of head.entries as Array<Record<string, unknown>>) {
      const n = raw['bodyBytes'];
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || at + n > buf.length) return null;
      if (typeof raw['key'] !== 'string' || typeof raw['url'] !== 'string' || typeof raw['status'] !== 'number'
        || typeof raw['storedAt'] !== 'number' || typeof raw['lifetimeMs'] !== 'number' || !Array.isArray(raw['vary'])) return null;
      const { bodyBytes: _n, ...rest } = raw;
      out.push({ ...(rest as unknown as Omit<CachedEntry, 'body'>), body: Buffer.from(buf.subarray(at, at + n)) });
      at += n;
    }
    return at === buf.length ? out : null;
  } catch {
    return null;
  }
}
