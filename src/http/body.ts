// Request bodies are bounded: a declared Content-Length over the target's limit is refused before a
// byte is read; a chunked body is counted as it streams and cut at the limit.
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { BodyTooLargeError } from '../errors.ts';

export function declaredLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** True when the request carries a body (RFC 9112 §6.3: Content-Length > 0 or Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  return (declaredLength(req) ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

// A body read before the request reaches its handler (the cache keys POST by the body's hash) is kept
// here, so the handler's readBody gets the same bytes instead of a drained stream.
const alreadyRead = new WeakMap<IncomingMessage, Buffer>();

/** Reads the body once for an early reader; later readBody calls on `req` get the same buffer. */
export async function readBodyOnce(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const body = alreadyRead.get(req) ?? await readBody(req, maxBytes);
  alreadyRead.set(req, body);
  return body;
}

/** The body, if something read it already. */
export const bodyReadAlready = (req: IncomingMessage): Buffer | undefined => alreadyRead.get(req);

/** Reads the whole body, rejecting with BodyTooLargeError past `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const early = alreadyRead.get(req);
  if (early) return early.length > maxBytes ? Promise.reject(new BodyTooLargeError(maxBytes)) : Promise.resolve(early);
  const declared = declaredLength(req);
  if (declared !== undefined && declared > maxBytes) return Promise.reject(new BodyTooLargeError(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) { req.removeAllListeners('data'); req.resume(); reject(new BodyTooLargeError(maxBytes)); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('client aborted')));
  });
}

/** A pass-through stream that fails with BodyTooLargeError once more than `maxBytes` went through. */
export class ByteLimit extends Transform {
  private seen = 0;
  exceeded = false;
  constructor(private readonly maxBytes: number) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.maxBytes) { this.exceeded = true; done(new BodyTooLargeError(this.maxBytes)); return; }
    done(null, chunk);
  }
}
