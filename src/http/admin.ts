// The admin API under /_sluice/: health, readiness, Prometheus metrics, runtime target registration,
// cluster view and the live dashboard. When admin.token is set every call but the orchestrators'
// probes (healthz, readyz) needs the bearer token; the dashboard page and its feed also take it as
// `?token=`, since a browser opening a link cannot send a header.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { BadRequestError, InvalidConfigError, NotFoundError, UnauthorizedError } from '../errors.ts';
import { parseTarget } from '../config/load.ts';
import { readBody } from './body.ts';
import type { DashboardFeed } from './dashboard/feed.ts';
import { streamFeed } from './dashboard/events.ts';
import { DASHBOARD_PAGE, TOKEN_PAGE } from './dashboard/page.ts';
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
  /** `booksComplete`: this voter's copy of the strict books holds the current windows (docs/strict-limits.md, rolling restarts). */
  cluster(): { node: string; cluster: string; nodes: string[]; singleton: string | null; booksComplete?: boolean };
  /** The samples behind the dashboard's charts. */
  readonly dashboard: DashboardFeed;
  /** The target's response cache, or undefined when the target is unknown; null when its cache is off. */
  targetCache?(name: string): { stats(): unknown; purge(path?: string): Promise<number> } | null | undefined;
}

const DASHBOARD_PAGES = new Set(['/', '/dashboard']);
const DASHBOARD_FEED = '/dashboard/events';

export async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string, node: AdminNode): Promise<void> {
  const method = req.method ?? 'GET';
  const sub = path.slice(ADMIN_PREFIX.length) || '/';

  // Probes of orchestrators (Kubernetes, load balancers) carry no token; the answers reveal nothing.
  if (sub === '/healthz' && isRead(method)) return json(res, 200, { status: 'ok' });
  if (sub === '/readyz' && isRead(method)) return node.isReady() ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not ready' });

  const page = DASHBOARD_PAGES.has(sub) && isRead(method);
  const feed = sub === DASHBOARD_FEED && method === 'GET';
  const token = node.adminToken;
  if (token !== undefined && !tokenMatches(req.headers.authorization, token) && !((page || feed) && queryTokenMatches(req.url, token))) {
    res.setHeader('www-authenticate', 'Bearer realm="sluice"');
    // A browser gets a form asking for the token rather than a JSON problem.
    if (page && /\btext\/html\b/.test(req.headers.accept ?? '')) return html(res, 401, TOKEN_PAGE);
    throw new UnauthorizedError();
  }
  if (page) return html(res, 200, DASHBOARD_PAGE);
  if (feed) return streamFeed(req, res, node.dashboard);
  if (sub === '/metrics' && isRead(method)) {
    const m = await node.metricsText();
    res.writeHead(200, { 'content-type': m.contentType });
    return void res.end(m.body);
  }
  if (sub === '/cluster' && isRead(method)) return json(res, 200, node.cluster());
  if (sub === '/targets' && isRead(method)) return json(res, 200, node.listTargets());

  const p = /^\/targets\/([^/]+)\/policy$/.exec(sub);
  if (p) return policyRoute(req, res, method, decodeURIComponent(p[1]!), node);
  const c = /^\/targets\/([^/]+)\/cache$/.exec(sub);
  if (c) return cacheRoute(req, res, method, decodeURIComponent(c[1]!), node);

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

/** GET: the cache's stats. DELETE: purge it all, or `?path=` one path's (or one URL's) entries. */
async function cacheRoute(req: IncomingMessage, res: ServerResponse, method: string, name: string, node: AdminNode): Promise<void> {
  const cache = node.targetCache?.(name);
  if (cache === undefined) throw new NotFoundError(`no target named ${name}`);
  if (cache === null) throw new NotFoundError(`target ${name} has no cache (cache.enabled is false)`);
  if (isRead(method)) return json(res, 200, cache.stats());
  if (method === 'DELETE') {
    const path = new URL(req.url ?? '/', 'http://admin.invalid').searchParams.get('path');
    if (path !== null && !path.startsWith('/')) throw new BadRequestError(`path must start with /, got ${JSON.stringify(path)}`);
    return json(res, 200, { purged: await cache.purge(path ?? undefined) });
  }
  throw new NotFoundError(`no admin route ${method} ${req.url ?? ''}`);
}

const isRead = (method: string) => method === 'GET' || method === 'HEAD';

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m !== null && sameToken(m[1]!.trim(), token);
}

function queryTokenMatches(url: string | undefined, token: string): boolean {
  const q = (url ?? '').indexOf('?');
  const given = q < 0 ? null : new URLSearchParams(url!.slice(q + 1)).get('token');
  return given !== null && sameToken(given, token);
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  // Constant-time compare so the token cannot be guessed byte by byte from response times.
  return a.length === b.length && timingSafeEqual(a, b);
}

function html(res: ServerResponse, status: number, page: { html: string; headers: Readonly<Record<string, string>> }): void {
  res.writeHead(status, { ...page.headers, 'content-length': Buffer.byteLength(page.html) });
  res.end(page.html);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
