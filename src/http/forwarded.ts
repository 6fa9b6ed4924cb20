// A flight forwarded by another node (fleet scope), answered here as the key's owner by the same
// entry a local client takes: the forward becomes a RequestContext whose request is rebuilt from the
// message and whose response streams back over the bus (ForwardResponse). So a forward joins the
// flight (or cache) of its key like any client, and every safe-sharing rule holds for it. It was
// admitted by the per-client limits of the node the client reached: `forwarded` skips them here.
import { IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Clock } from '../clock.ts';
import type { ForwardedRequest } from '../actors/fleet/forward-server.ts';
import type { ForwardResponse } from '../actors/fleet/forward-response.ts';
import { newId } from '../ids.ts';
import type { TargetRuntime } from '../actors/target-runtime.ts';
import { sendProblem } from './problem.ts';
import { handleTarget } from './target-handler.ts';
import type { RequestContext } from '../proxy/request-context.ts';

export function serveForwarded(target: TargetRuntime, fwd: ForwardedRequest, res: ForwardResponse, gone: AbortSignal, nodeId: string, clock: Clock): void {
  // The original client's address and scheme, for X-Forwarded-For/Proto on the upstream call.
  const socket = { remoteAddress: fwd.ip, encrypted: fwd.tls, destroy() {} } as unknown as Socket;
  const req = new IncomingMessage(socket);
  const headers: Record<string, string | string[]> = { ...fwd.headers };
  delete headers['transfer-encoding'];
  if (fwd.body) headers['content-length'] = String(fwd.body.length);
  else delete headers['content-length'];
  req.headers = headers;
  req.method = fwd.method;
  req.url = fwd.query ? `${fwd.path}?${fwd.query}` : fwd.path;
  if (fwd.body) req.push(fwd.body);
  req.push(null);
  const ctx: RequestContext = {
    req, res: res as unknown as ServerResponse,
    requestId: typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : newId(),
    receivedAt: clock.now(), method: fwd.method, path: fwd.path, query: fwd.query,
    upstreamPath: req.url, clientIp: fwd.ip, answerHeaders: { 'x-sluice-node': nodeId }, clientGone: gone, forwarded: { from: fwd.from, clients: fwd.clients }, access: {},
  };
  handleTarget(ctx, target).catch((err: unknown) => sendProblem(ctx.res, err, fwd.path, ctx.answerHeaders));
}
