// Raw HTTP/1.1 over a socket, for tests that need what a client library would refuse to send or
// would rewrite (dot-segments, smuggling shapes, slow or broken requests). Every exchange has a
// deadline: it resolves with what arrived and how it ended, never waits for ever.
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** Everything the server sent, as latin1 text. */
  text: string;
  /** The server closed (or reset) the connection before `waitMs`. */
  closed: boolean;
  /** The socket failed (ECONNRESET and the like), when it did. */
  error?: string;
}

export interface RawOptions {
  /** Give up and close the socket after this long, ms (default 5 000). */
  waitMs?: number;
  /** Resolve as soon as the text holds this many complete answers, instead of waiting for close. */
  answers?: number;
}

/**
 * Connects, lets `write` send (a string or a function pacing its own writes), and resolves once the
 * server closes, `answers` complete answers arrived, or `waitMs` passed.
 */
export function rawExchange(port: number, write: string | Buffer | ((s: Socket) => void | Promise<void>), opts: RawOptions = {}): Promise<RawAnswer> {
  const waitMs = opts.waitMs ?? 5_000;
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const s = connect(port, '127.0.0.1');
    const finish = (closed: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('connect', () => {
      if (typeof write === 'function') Promise.resolve(write(s)).catch(() => {});
      else s.write(write);
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (opts.answers !== undefined && statuses(text).length >= opts.answers && completeAnswers(text) >= opts.answers) finish(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => finish(true, e.code ?? e.message));
    s.on('close', () => finish(true));
  });
}

/** The status codes of every answer in `text`, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

/** Answers in `text` whose body (by content-length) has fully arrived. */
function completeAnswers(text: string): number {
  let n = 0;
  let at = 0;
  for (;;) {
    const head = text.indexOf('\r\n\r\n', at);
    if (head < 0) return n;
    const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(at, head));
    const end = head + 4 + (len ? Number(len[1]) : 0);
    if (text.length < end) return n;
    n++;
    at = end;
  }
}

/** Resolves after `ms` of real time: for pacing a slow client's writes, never for synchronisation. */
export const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
