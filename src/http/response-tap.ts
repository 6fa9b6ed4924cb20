// Watches what one client is sent, whichever path answers it (coalesced flight, pass-through,
// problem): the head as it is written (with a chance to add headers), then the body up to a bound.
// The cache stores exactly what the client got, once complete; a streamed reply (SSE included) is
// thus stored only when it has ended, and a client that left mid-body leaves nothing behind.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { flattenHeaders } from '../cache/rules.ts';

export interface TapHandlers {
  /** The head, before it is sent: returns headers to add to it. */
  head(status: number, headers: Record<string, string>): Record<string, string>;
  /** The whole answer, sent in full; `body` is null when it outgrew `maxBytes`. */
  done(status: number, headers: Record<string, string>, body: Buffer | null): void;
}

type WriteHeadArgs = [number, (string | OutgoingHttpHeaders | undefined)?, OutgoingHttpHeaders?];

export function tapResponse(res: ServerResponse, maxBytes: number, h: TapHandlers, keepBody = true): void {
  let status = 0;
  let headers: Record<string, string> = {};
  const chunks: Buffer[] = [];
  let size = 0;
  let over = !keepBody;
  const record = (chunk: unknown, enc?: unknown): void => {
    if (over || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const b = typeof chunk === 'string' ? Buffer.from(chunk, typeof enc === 'string' ? enc as BufferEncoding : 'utf8') : Buffer.from(chunk as Uint8Array);
    size += b.length;
    if (size > maxBytes) { over = true; chunks.length = 0; return; }
    chunks.push(b);
  };

  const writeHead = res.writeHead.bind(res) as (...a: WriteHeadArgs) => ServerResponse;
  res.writeHead = ((...args: WriteHeadArgs) => {
    const [code, reasonOrHeaders, maybeHeaders] = args;
    const given = (typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders) ?? {};
    status = code;
    headers = flattenHeaders({ ...res.getHeaders(), ...given });
    const extra = h.head(status, headers);
    const out = { ...given, ...extra };
    return typeof reasonOrHeaders === 'string' ? writeHead(code, reasonOrHeaders, out) : writeHead(code, out);
  }) as ServerResponse['writeHead'];

  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  res.write = ((chunk: unknown, ...rest: unknown[]) => { record(chunk, rest[0]); return write(chunk, ...rest); }) as ServerResponse['write'];
  // Complete when the answer's last byte is handed over (not at 'finish'): the client may read it and
  // ask again before 'finish' fires, and must then find it stored.
  let ended = false;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    record(chunk, rest[0]);
    if (!ended && !res.destroyed) {
      ended = true;
      if (status === 0) { status = res.statusCode; headers = flattenHeaders(res.getHeaders()); }
      try { h.done(status, headers, over ? null : Buffer.concat(chunks, size)); } catch { /* the answer goes out regardless */ }
    }
    return end(chunk, ...rest);
  }) as ServerResponse['end'];
}
