// Writing an upstream reply to a client: end-to-end headers only, sluice's own headers added, the body
// streamed. A client that goes away mid-stream just ends the pipe; nothing is thrown at the caller.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { endToEnd, type HeaderMap } from '../proxy/headers.ts';

export function writeHead(res: ServerResponse, status: number, upstreamHeaders: HeaderMap, extra: Record<string, string> = {}): void {
  const headers = endToEnd(upstreamHeaders);
  for (const [k, v] of Object.entries(extra)) headers[k] = v;
  res.writeHead(status, headers);
}

/** Streams `body` to the client; resolves when done or when the client left (then the body is destroyed). */
// Plain pipe, not stream/promises' pipeline: that one builds and aborts an AbortController per call,
// which cost ~5% of pass-through CPU in profiles.
export function streamBody(res: ServerResponse, body: Readable): Promise<void> {
  return new Promise((resolve) => {
    body.once('error', () => { res.destroy(); resolve(); });
    res.once('close', () => { if (!body.readableEnded) body.destroy(); resolve(); });
    body.pipe(res);
  });
}

export function drain(body: Readable): void {
  body.on('error', () => {});
  body.resume();
}
