// Writing an upstream reply to a client: end-to-end headers only, sluice's own headers added, the body
// streamed. A client that goes away mid-stream just ends the pipe; nothing is thrown at the caller.
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { endToEnd, type HeaderMap } from './headers.ts';

export function writeHead(res: ServerResponse, status: number, upstreamHeaders: HeaderMap, extra: Record<string, string> = {}): void {
  const headers = endToEnd(upstreamHeaders);
  for (const [k, v] of Object.entries(extra)) headers[k] = v;
  res.writeHead(status, headers);
}

/** Streams `body` to the client; resolves when done or when the client left (then the body is destroyed). */
export async function streamBody(res: ServerResponse, body: Readable): Promise<void> {
  try {
    await pipeline(body, res);
  } catch {
    body.destroy();
  }
}

export function drain(body: Readable): void {
  body.on('error', () => {});
  body.resume();
}
