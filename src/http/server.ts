// The request handler of a node: admin routes under /_sluice/, proxy routes by target prefix.
// Every answer carries X-Sluice-Node; every failure is one problem+json answer; nothing thrown here
// escapes to crash the process. The path is normalised (or refused) before any routing, so what an
// upstream receives always stays under its replica's base path (request-path.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import { BadRequestError, RouteNotFoundError, ShuttingDownError } from '../errors.ts';
import { newId } from '../ids.ts';
import { LightAbortController } from '../abort.ts';
import type { NodeMetrics } from '../metrics.ts';
import { ADMIN_PREFIX, handleAdmin, type AdminNode } from './admin.ts';
import { clientIp } from '../proxy/headers.ts';
import { problemFor, sendProblem } from './problem.ts';
import { normalizeRequestTarget } from './request-path.ts';
import type { RequestContext } from '../proxy/request-context.ts';
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
    if (node.isDraining()) {
      res.setHeader('x-sluice-node', node.nodeId);
      res.setHeader('connection', 'close');
      return fail(node, res, new ShuttingDownError(), path, 'none');
    }
    const hit = node.targets.resolve(path);
    if (!hit) return fail(node, res, new RouteNotFoundError(path), path, 'none', { 'x-sluice-node': node.nodeId });

    const { target, rest } = hit;
    const receivedAt = node.clock.now();
    const gone = new LightAbortController();
    // One listener for both: 'close' follows 'finish' when the answer completed.
    res.once('close', () => {
      if (!res.writableFinished) { gone.abort(); return; }
      node.metrics.requests.inc({ target: target.name, status: `${Math.floor(res.statusCode / 100)}xx` });
      node.metrics.requestDuration.observe({ target: target.name }, (node.clock.now() - receivedAt) / 1000);
    });
    const ctx: RequestContext = {
      req, res, requestId: newId(), receivedAt, method: req.method ?? 'GET', path: rest, query,
      upstreamPath: query ? `${rest}?${query}` : rest, clientIp: clientIp(req), clientGone: gone.signal,
      // Every answer to a proxied request is written with these. The node header travels here rather
      // than through res.setHeader: mixing setHeader with writeHead's object takes Node's slow path,
      // which re-validates every upstream header one by one.
      answerHeaders: { 'x-sluice-node': node.nodeId },
    };
    handleTarget(ctx, target).catch((err) => fail(node, res, err, path, target.name, ctx.answerHeaders));
  };
}

function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}

function fail(node: GatewayNode, res: ServerResponse, err: unknown, instance: string | undefined, target: string, headers: Record<string, string> = {}): void {
  // Answered before the body was read (a 413 by Content-Length, a 400): close rather than read and
  // discard a body of any size to keep the connection.
  if (res.req && !res.req.complete) headers = { ...headers, connection: 'close' };
  if (problemFor(err).status === 500) node.log('unexpected error', { target, instance, error: String((err as Error)?.stack ?? err) });
  if (target === 'none') node.metrics.requests.inc({ target, status: `${Math.floor(problemFor(err).status / 100)}xx` });
  sendProblem(res, err, instance, headers);
}
