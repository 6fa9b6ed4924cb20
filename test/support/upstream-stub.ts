// A real HTTP upstream on loopback for tests: counts calls, records what it received, and answers
// through a handler the test sets. `gate()` holds answers until the test releases them, so tests
// synchronise on events instead of sleeping.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }

export type StubHandler = (req: Received, res: ServerResponse) => void | Promise<void>;

export class UpstreamStub {
  calls = 0;
  readonly received: Received[] = [];
  handler: StubHandler = (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); };
  private server!: Server;
  private readonly arrivalWaiters: Array<{ n: number; resolve: () => void }> = [];

  static async start(handler?: StubHandler): Promise<UpstreamStub> {
    const s = new UpstreamStub();
    if (handler) s.handler = handler;
    s.server = createServer((req, res) => s.onRequest(req, res));
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    return s;
  }

  get port(): number { return (this.server.address() as AddressInfo).port; }
  get url(): string { return `http://127.0.0.1:${this.port}`; }

  /** Resolves once `n` calls in total have arrived. */
  arrived(n: number): Promise<void> {
    if (this.calls >= n) return Promise.resolve();
    return new Promise((resolve) => this.arrivalWaiters.push({ n, resolve }));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      this.calls++;
      this.received.push(r);
      for (const w of this.arrivalWaiters.filter((w) => this.calls >= w.n)) {
        this.arrivalWaiters.splice(this.arrivalWaiters.indexOf(w), 1);
        w.resolve();
      }
      Promise.resolve(this.handler(r, res)).catch(() => res.destroy());
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A promise with its resolve, for gating stub answers. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}
