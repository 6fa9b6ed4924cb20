// The owner's answer to a forwarded flight, shaped like the bits of a ServerResponse that the
// coalesce path writes to (writeHead, then a body stream; sendProblem's headersSent/destroy), so
// a forwarded request is answered by the owner's normal entry and this stream carries the answer
// over the bus. The head waits for the first body bytes, each write goes out as it comes (in
// messages of at most chunkBytes), and a body complete by its Content-Length is marked `end` at
// once: a small reply is one message, with no moment between head and end in which a dying owner
// could leave a requester with half an answer.
import { Writable } from 'node:stream';
import type { HeaderMap } from '../../proxy/headers.ts';
import type { ToRequester } from './forward-protocol.ts';

export class ForwardResponse extends Writable {
  statusCode = 200;
  headersSent = false;
  /** Set when the requester cancelled: destroying then sends nothing back. */
  cancelled = false;
  private headers: HeaderMap = {};
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private written = 0;
  private expected: number | undefined;
  private headSent = false;
  private seq = 0;
  private ended = false;

  constructor(
    private readonly id: string,
    private readonly from: string,
    private readonly send: (m: ToRequester) => void,
    private readonly chunkBytes: number,
    private readonly onHead?: (status: number, headers: HeaderMap) => void,
  ) {
    super();
  }

  /** Headers set before the head (ServerResponse's setHeader family), merged into it. */
  private readonly preset: Record<string, string | string[]> = {};

  setHeader(name: string, value: string | number | readonly string[]): this {
    this.preset[name.toLowerCase()] = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : [...value];
    return this;
  }
  getHeader(name: string): string | string[] | undefined { return this.preset[name.toLowerCase()]; }
  getHeaders(): Record<string, string | string[]> { return { ...this.preset }; }
  hasHeader(name: string): boolean { return name.toLowerCase() in this.preset; }
  removeHeader(name: string): void { delete this.preset[name.toLowerCase()]; }

  writeHead(status: number, headers: Record<string, string | number | readonly string[] | undefined> = {}): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    this.headersSent = true;
    const out: HeaderMap = { ...this.preset };
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      out[name.toLowerCase()] = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : [...v];
    }
    this.headers = out;
    const cl = Number(out['content-length']);
    this.expected = typeof out['content-length'] === 'string' && Number.isSafeInteger(cl) && cl >= 0 ? cl : undefined;
    this.onHead?.(status, out);
    return this;
  }

  /** Whether the whole answer has gone out. */
  get complete(): boolean { return this.ended; }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.headersSent) this.writeHead(200);
    if (this.ended) { done(); return; } // bytes past Content-Length: never sent
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.written += chunk.length;
    // Sent as it comes (a stream, SSE included, must not wait for a chunk to fill); the head rides
    // with the first bytes, and the last bytes by Content-Length carry `end`.
    this.flush(this.expected !== undefined && this.written >= this.expected);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.headersSent) this.writeHead(200);
    if (!this.ended) this.flush(true);
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.ended && !this.cancelled) {
      this.ended = true;
      this.send({ t: 'abort', id: this.id, from: this.from });
    }
    done(err);
  }

  /** Sends what is buffered, in messages of at most chunkBytes. */
  private flush(end: boolean): void {
    const all = Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    let at = 0;
    do {
      const piece = all.subarray(at, at + this.chunkBytes);
      at += piece.length;
      const last = end && at >= all.length;
      const data = piece.toString('base64');
      if (!this.headSent) {
        this.headSent = true;
        this.send({ t: 'head', id: this.id, from: this.from, status: this.statusCode, headers: this.headers, data, end: last });
      } else {
        this.send({ t: 'body', id: this.id, from: this.from, seq: ++this.seq, data, end: last });
      }
    } while (at < all.length);
    if (end) this.ended = true;
  }
}
