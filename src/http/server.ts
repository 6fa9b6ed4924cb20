// The request handler of a node: admin routes under /_sluice/, proxy routes by target prefix.
// Every answer carries X-Sluice-Node; every failure is one problem+json answer; nothing thrown here
// escapes to crash the process. The path is normalised (or refused) before any routing, so what an
// upstream receives always stays under its replica's base path (request-path.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import { BadRequestError, RateLimitedError, RouteNotFoundError, ShuttingDownError } from '../errors.ts';
import { newId } from '../ids.ts';
import { LightAbortController } from '../abort.ts';
import type { NodeMetrics } from '../metrics.ts';
import { ADMIN_PREFIX, handleAdmin, type AdminNode } from './admin.ts';
import { clientIp } from '../proxy/headers.ts';
import { problemFor, sendProblem } from './problem.ts';
import { normalizeRequestTarget } from './request-path.ts';
import type { AccessRecord, RequestContext } from '../proxy/request-context.ts';
import type { AccessLine } from '../log/logger.ts';
import type { TargetTable } from './target-table.ts';
import { handleTarget } from './target-handler.ts';

export interface GatewayNode {
  nodeId: string;
  clock: Clock;
  metrics: NodeMetrics;
  targets: TargetTable;
  admin: AdminNode;
  isDraining(): boolean;
  log(line: string, fields?: Record<string, unknown>): void;
  /** Writes one access line per proxied request (src/log/logger.ts); absent = none. */
  access?(line: AccessLine): void;
}

/** A client's X-Request-Id is kept when it is one short token; anything else gets a new id. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:/+=@-]{1,128}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : newId();
}

export function createRequestHandler(node: GatewayNode): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const parsed = normalizeRequestTarget(req.url ?? '/');
    if (!parsed.ok) {
      node.metrics.httpRejected.inc({ reason: 'bad_path' });
      return fail(node, res, new BadRequestError(parsed.reason), undefined, 'none', { 'x-sluice-node': node.nodeId });
    }
    const { path, query } = parsed;
    // RFC 9112 §3.2: more than one Host is a 400 (Node keeps the first; a cache or upstream may not).
    if (hostLines(req.rawHeaders) > 1) {
      node.metrics.httpRejected.inc({ reason: 'duplicate_host' });
      return fail(node, res, new BadRequestError('more than one Host header'), path, 'none', { 'x-sluice-node': node.nodeId });
    }
    if (path === ADMIN_PREFIX || path.startsWith(ADMIN_PREFIX + '/')) {
      res.setHeader('x-sluice-node', node.nodeId);
      handleAdmin(req, res, path, node.admin).catch((err) => fail(node, res, err, path, 'admin'));
      return;
    }
    const requestId = requestIdOf(req.headers['x-request-id']);
    const receivedAt = node.clock.now();
    const method = req.method ?? 'GET';
    const access: AccessRecord = {};
    if (node.isDraining()) {
      res.setHeader('x-sluice-node', node.nodeId);
      res.setHeader('x-request-id', requestId);
      res.setHeader('connection', 'close');
      fail(node, res, new ShuttingDownError(), path, 'none');
      return accessLine(node, 'none', requestId, method, path, receivedAt, res, access);
    }
    const hit = node.targets.resolve(path);
    if (!hit) {
      fail(node, res, new RouteNotFoundError(path), path, 'none', { 'x-sluice-node': node.nodeId, 'x-request-id': requestId });
      return accessLine(node, 'none', requestId, method, path, receivedAt, res, access);
    }

    const { target, rest } = hit;
    const gone = new LightAbortController();
    target.begin(); // a runtime replaced by a reload retires once these are done
    // One listener for both: 'close' follows 'finish' when the answer completed.
    res.once('close', () => {
      target.end();
      accessLine(node, target.name, requestId, method, path, receivedAt, res, access);
      if (!res.writableFinished) { gone.abort(); return; }
      node.metrics.requests.inc({ target: target.name, status: `${Math.floor(res.statusCode / 100)}xx` });
      node.metrics.requestDuration.observe({ target: target.name }, (node.clock.now() - receivedAt) / 1000);
    });
    const ctx: RequestContext = {
      req, res, requestId, receivedAt, method, path: rest, query,
      upstreamPath: query ? `${rest}?${query}` : rest, clientIp: clientIp(req), clientGone: gone.signal,
      // Every answer to a proxied request is written with these. The node header travels here rather
      // than through res.setHeader: mixing setHeader with writeHead's object takes Node's slow path,
      // which re-validates every upstream header one by one.
      answerHeaders: { 'x-sluice-node': node.nodeId, 'x-request-id': requestId },
      access,
    };
    handleTarget(ctx, target).catch((err) => {
      if (err instanceof RateLimitedError) access.limit = 'rejected';
      fail(node, res, err, path, target.name, ctx.answerHeaders);
    });
  };
}

function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}

/** The access line, once the answer is done; a client that left first is logged with status 499. */
function accessLine(node: GatewayNode, target: string, requestId: string, method: string, path: string, receivedAt: number,
  res: ServerResponse, access: AccessRecord): void {
  if (!node.access) return;
  const status = res.writableFinished || res.headersSent ? res.statusCode : 499;
  node.access({ requestId, target, method, path, status, ...access, totalMs: node.clock.now() - receivedAt });
}

function fail(node: GatewayNode, res: ServerResponse, err: unknown, instance: string | undefined, target: string, headers: Record<string, string> = {}): void {
  // Answered before the body was read (a 413 by Content-Length, a 400): close rather than read and
  // discard a body of any size to keep the connection.
  if (res.req && !res.req.complete) headers = { ...headers, connection: 'close' };
  if (problemFor(err).status === 500) node.log('unexpected error', { target, instance, error: String((err as Error)?.stack ?? err) });
  if (target === 'none') node.metrics.requests.inc({ target, status: `${Math.floor(problemFor(err).status / 100)}xx` });
  sendProblem(res, err, instance, headers);
}
