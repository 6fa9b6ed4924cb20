// The admin API under /_sluice/: health, readiness, Prometheus metrics, runtime target registration,
// cluster view and a small live dashboard. When admin.token is set every call needs the bearer token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { BadRequestError, InvalidConfigError, NotFoundError, UnauthorizedError } from '../errors.ts';
import { parseTarget } from '../config/load.ts';
import { readBody } from './body.ts';
import { DASHBOARD_HTML } from './dashboard.ts';
import type { TargetConfig } from '../config/schema.ts';

export const ADMIN_PREFIX = '/_sluice';
const MAX_ADMIN_BODY = 1024 * 1024;

/** What the admin API needs from the node; kept narrow so the API can be tested on its own. */
export interface AdminNode {
  readonly adminToken: string | undefined;
  isReady(): boolean;
  metricsText(): Promise<{ contentType: string; body: string }>;
  listTargets(): unknown[];
  describeTarget(name: string): unknown | undefined;
  /** Validated config in, or InvalidConfigError out; returns true when it replaced a target. */
  putTarget(config: TargetConfig): Promise<boolean>;
  deleteTarget(name: string): Promise<boolean>;
  /** A target's learning flush policy (`batch.policy: adaptive`); undefined for other policies or no such target. */
  targetPolicy?(name: string): { exportState(): unknown; loadState(state: unknown): void } | undefined;
  cluster(): { node: string; cluster: string; nodes: string[]; singleton: string | null };
}

export async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string, node: AdminNode): Promise<void> {
  if (node.adminToken !== undefined && !tokenMatches(req.headers.authorization, node.adminToken)) {
    res.setHeader('www-authenticate', 'Bearer realm="sluice"');
    throw new UnauthorizedError();
  }
  const method = req.method ?? 'GET';
  const sub = path.slice(ADMIN_PREFIX.length) || '/';

  if (sub === '/healthz' && isRead(method)) return json(res, 200, { status: 'ok' });
  if (sub === '/readyz' && isRead(method)) return node.isReady() ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not ready' });
  if (sub === '/metrics' && isRead(method)) {
    const m = await node.metricsText();
    res.writeHead(200, { 'content-type': m.contentType });
    return void res.end(m.body);
  }
  if (sub === '/cluster' && isRead(method)) return json(res, 200, node.cluster());
  if ((sub === '/' || sub === '/dashboard') && isRead(method)) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return void res.end(DASHBOARD_HTML);
  }
  if (sub === '/targets' && isRead(method)) return json(res, 200, node.listTargets());

  const p = /^\/targets\/([^/]+)\/policy$/.exec(sub);
  if (p) return policyRoute(req, res, method, decodeURIComponent(p[1]!), node);

  const m = /^\/targets\/([^/]+)$/.exec(sub);
  if (m) {
    const name = decodeURIComponent(m[1]!);
    if (isRead(method)) {
      const t = node.describeTarget(name);
      if (t === undefined) throw new NotFoundError(`no target named ${name}`);
      return json(res, 200, t);
    }
    if (method === 'PUT') {
      const raw = await readBody(req, MAX_ADMIN_BODY);
      let input: unknown;
      try { input = JSON.parse(raw.toString('utf8')); } catch { throw new BadRequestError('the body must be one target as JSON'); }
      if (typeof input === 'object' && input !== null && !Array.isArray(input) && (input as { name?: unknown }).name === undefined) {
        input = { ...input, name };
      }
      const config = parseTarget(input, `target ${name}`);
      if (config.name !== name) throw new InvalidConfigError([{ path: 'name', value: config.name, expected: `the name in the URL (${name})` }], `target ${name}`);
      const replaced = await node.putTarget(config);
      return json(res, replaced ? 200 : 201, node.describeTarget(name));
    }
    if (method === 'DELETE') {
      if (!(await node.deleteTarget(name))) throw new NotFoundError(`no target named ${name}`);
      res.writeHead(204);
      return void res.end();
    }
  }
  throw new NotFoundError(`no admin route ${method} ${path}`);
}

/** GET the adaptive policy's learned state; PUT one (validated, 400 naming the field) to load it. */
async function policyRoute(req: IncomingMessage, res: ServerResponse, method: string, name: string, node: AdminNode): Promise<void> {
  if (node.describeTarget(name) === undefined) throw new NotFoundError(`no target named ${name}`);
  const policy = node.targetPolicy?.(name);
  if (!policy) throw new NotFoundError(`target ${name} has no learned policy state (batch.policy is not adaptive)`);
  if (isRead(method)) return json(res, 200, policy.exportState());
  if (method === 'PUT') {
    const raw = await readBody(req, MAX_ADMIN_BODY);
    let state: unknown;
    try { state = JSON.parse(raw.toString('utf8')); } catch { throw new BadRequestError('the body must be a learned policy state as JSON'); }
    try { policy.loadState(state); } catch (err) { throw new BadRequestError((err as Error).message); }
    return json(res, 200, policy.exportState());
  }
  throw new NotFoundError(`no admin route ${method} /targets/${name}/policy`);
}

const isRead = (method: string) => method === 'GET' || method === 'HEAD';

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  // Constant-time compare so the token cannot be guessed byte by byte from response times.
  return a.length === b.length && timingSafeEqual(a, b);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
