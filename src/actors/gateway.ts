// The gateway actor owns the node's HTTP server: starting → listening → draining → stopped.
// Draining stops accepting, lets in-flight requests finish up to `drainMs`, then cuts what is left.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { assign, fromCallback, sendTo, setup } from 'xstate';
import type { Clock } from '../clock.ts';

export interface GatewayInput {
  host: string;
  port: number;
  drainMs: number;
  clock: Clock;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Open sockets at most; one more is closed at once, without reading it, and counted. */
  maxConnections?: number;
  /** How long a client may take to send its whole request (headers and body), ms; 0 for no bound. */
  requestTimeoutMs?: number;
  /**
   * Counted, and answered by status: malformed HTTP never reaches the handler. The reason is Node's
   * code (HPE_* from the parser, ERR_HTTP_REQUEST_TIMEOUT) or `max_connections` for a refused socket.
   */
  onClientError?: (reason: string) => void;
}

/** Headers must come within this (or within requestTimeoutMs when that is shorter). */
const HEADERS_TIMEOUT_MS = 30_000;

/** The answer to a request the parser or the clock refused, by Node's error code. */
function clientErrorAnswer(code: string | undefined): string {
  const [status, text] = code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout']
    : code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
    : [400, 'Bad Request'];
  return `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

type ServerEvent =
  | { type: 'server.listening'; port: number }
  | { type: 'server.failed'; error: string }
  | { type: 'server.closed' };
type GatewayEvent = ServerEvent | { type: 'drain' };

const httpServer = fromCallback<{ type: 'drain' }, GatewayInput>(({ input, sendBack, receive }) => {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  const requestTimeout = input.requestTimeoutMs ?? 0;
  const server = createServer({
    keepAliveTimeout: 5_000,
    requestTimeout,
    headersTimeout: requestTimeout > 0 ? Math.min(HEADERS_TIMEOUT_MS, requestTimeout) : HEADERS_TIMEOUT_MS,
    // Node checks both timeouts on this interval (30 s by default, longer than a short requestTimeout).
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor((requestTimeout || HEADERS_TIMEOUT_MS) / 4))),
  }, (req, res) => {
    inFlight++;
    res.on('close', () => { if (--inFlight === 0) idle?.(); });
    input.handler(req, res);
  });
  // Node closes a keep-alive socket when its idle timer fires. After the process was stopped
  // (SIGSTOP, a VM or GC stall) longer than keepAliveTimeout, that timer fires on resume before the
  // request that arrived meanwhile is read, and the client gets a reset for a request it sent while
  // the socket was open. Listening here replaces Node's close: close one loop turn later (after the
  // poll phase has read what is waiting), and only if nothing arrived.
  server.on('timeout', (socket: Socket) => {
    const seen = socket.bytesRead;
    setImmediate(() => { if (!socket.destroyed && socket.bytesRead === seen) socket.destroy(); });
  });
  if (input.maxConnections !== undefined) server.maxConnections = input.maxConnections;
  server.on('drop', () => input.onClientError?.('max_connections'));
  // A gateway, not a forward proxy: CONNECT gets a clear 405 instead of a silently dropped socket.
  server.on('connect', (_req, socket: Socket) => {
    input.onClientError?.('connect');
    socket.on('error', () => {});
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    input.onClientError?.(err.code ?? 'client_error');
    const pending = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    // Bad bytes after a complete request whose answer is still coming (pipelined garbage): a 400 now
    // would go out ahead of that answer, and the client would read it as the answer. Let the answer
    // finish, then close (found by the edge fuzz).
    if (pending && pending.req?.complete && !pending.writableFinished) {
      pending.once('close', () => { if (pending.writableFinished) socket.end(); else socket.destroy(); });
      return;
    }
    // An answer already started for this very request (a slow body under a streaming reply): cut it.
    if (socket.writable && !pending?.headersSent) socket.end(clientErrorAnswer(err.code));
    else socket.destroy();
  });
  server.once('error', (err) => sendBack({ type: 'server.failed', error: String((err as Error).message) }));
  server.listen(input.port, input.host, () => sendBack({ type: 'server.listening', port: (server.address() as AddressInfo).port }));

  receive(() => {
    if (draining) return;
    draining = true;
    server.close();
    server.closeIdleConnections();
    const finish = () => {
      input.clock.clearTimeout(deadline);
      server.closeAllConnections();
      sendBack({ type: 'server.closed' });
    };
    const deadline = input.clock.setTimeout(finish, input.drainMs);
    if (inFlight === 0) finish();
    else idle = finish;
  });
  return () => { server.closeAllConnections(); server.close(); };
});

export const gatewayMachine = setup({
  types: {
    input: {} as GatewayInput,
    context: {} as { input: GatewayInput; port: number | undefined; error: string | undefined },
    events: {} as GatewayEvent,
  },
  actors: { httpServer },
}).createMachine({
  id: 'gateway',
  context: ({ input }) => ({ input, port: undefined, error: undefined }),
  invoke: { id: 'server', src: 'httpServer', input: ({ context }) => context.input },
  initial: 'starting',
  states: {
    starting: {
      on: {
        'server.listening': { target: 'listening', actions: assign({ port: ({ event }) => event.port }) },
        'server.failed': { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
        drain: 'stopped',
      },
    },
    listening: { on: { drain: { target: 'draining', actions: sendTo('server', { type: 'drain' }) } } },
    draining: { on: { 'server.closed': 'stopped' } },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});
