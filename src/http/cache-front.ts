// The response cache in front of a target's request path (see docs/cache.md). A request whose method
// the cache stores is looked up first: a fresh answer is served here; a stale one within
// stale-while-revalidate is served and revalidated once in the background; one that must be
// validated goes upstream through the cache's single-flight with conditional headers (a 304
// refreshes it; stale-if-error may stand in for a failure). A miss takes the target's own path — the
// coalesced flight — and the answer the client got fills the cache once complete.
// Unsafe methods take their path untouched and, when they succeed, invalidate (RFC 9111 §4.4).
import type { Readable } from 'node:stream';
import { cacheKey, cacheStatus, cacheUrl, flattenHeaders, servedHeaders, staleIfError, ttlMs } from '../cache/index.ts';
import type { CachedEntry, CacheRequest, CacheStatusParts, Headers } from '../cache/index.ts';
import type { Fetched, TargetCache } from '../actors/cache/target-cache.ts';
import type { TargetRuntime } from '../actors/target-runtime.ts';
import { NotCachedError } from '../errors.ts';
import { hasBody, readBodyOnce } from './body.ts';
import { endToEnd, upstreamRequestHeaders } from '../proxy/headers.ts';
import type { RequestContext } from '../proxy/request-context.ts';
import { tapResponse } from './response-tap.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const CLIENT_CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];

export async function cacheFront(ctx: RequestContext, target: TargetRuntime, cache: TargetCache, next: (ctx: RequestContext) => Promise<void>): Promise<void> {
  const url = cacheUrl(ctx.path, ctx.query);
  if (!cache.handles(ctx.method)) {
    ctx.answerHeaders['cache-status'] = cacheStatus({ fwd: 'method' });
    ctx.access.cache = 'bypass';
    if (!SAFE.has(ctx.method)) watchUnsafe(ctx, target, cache, url);
    return next(ctx);
  }
  const { req } = ctx;
  const body = hasBody(req) ? await readBodyOnce(req, target.config.maxBodyBytes) : undefined;
  const creq: CacheRequest = { method: ctx.method, url, headers: flattenHeaders(req.headers) };
  const key = cacheKey({ method: ctx.method, path: ctx.path, query: ctx.query, headers: req.headers, ...(body ? { body } : {}) },
    { vary: target.config.vary, public: target.config.public });
  const l = await cache.find(key, creq);
  const serve = (entry: CachedEntry, status: CacheStatusParts): void => serveStored(ctx, entry, status, target.deps.clock.now());
  switch (l.type) {
    case 'hit':
      cache.countHit();
      return serve(l.entry, { hit: true, ttlMs: l.ttlMs });
    case 'stale-hit':
      cache.countStale('max-stale');
      return serve(l.entry, { hit: true, ttlMs: l.ttlMs, detail: 'max-stale' });
    case 'stale-while-revalidate':
      cache.countStale('stale-while-revalidate');
      serve(l.entry, { hit: true, ttlMs: l.ttlMs, detail: 'stale-while-revalidate' });
      // One background call per stale key, however many requests see it stale meanwhile.
      void cache.validate(l.entry, creq, l.conditional, fetcher(ctx, target, body)).catch(() => {});
      return;
    case 'unavailable':
      ctx.answerHeaders['cache-status'] = cacheStatus({ fwd: 'miss', detail: 'only-if-cached' });
      ctx.access.cache = 'miss';
      throw new NotCachedError(url);
    case 'validate': {
      cache.countMiss(l.fwd);
      const v = await cache.validate(l.entry, creq, l.conditional, fetcher(ctx, target, body));
      if (v.type === 'not-modified') return serve(v.entry, { fwd: l.fwd, fwdStatus: 304, ttlMs: ttlMs(v.entry, target.deps.clock.now()) });
      if (v.type === 'fetched') return send(ctx, v.reply, { fwd: l.fwd, fwdStatus: v.reply.status, stored: v.stored });
      if (staleIfError(l.entry, creq, target.deps.clock.now())) {
        cache.countStale('stale-if-error');
        return serve(l.entry, { fwd: l.fwd, ...(v.reply ? { fwdStatus: v.reply.status } : {}), ttlMs: l.ttlMs, detail: 'stale-if-error' });
      }
      if (v.reply) return send(ctx, v.reply, { fwd: l.fwd, fwdStatus: v.reply.status });
      throw v.error;
    }
    case 'miss': {
      cache.countMiss(l.fwd);
      ctx.access.cache = 'miss';
      const own = new Set(Object.keys(ctx.answerHeaders));
      const upstreamPart = (h: Headers): Headers => {
        const out: Headers = {};
        for (const n in h) if (!own.has(n) && !n.startsWith('ratelimit') && !n.startsWith('x-sluice-')) out[n] = h[n]!;
        return out;
      };
      tapResponse(ctx.res, cache.maxEntryBytes, {
        head: (status, headers) => ({ 'cache-status': cacheStatus({ fwd: l.fwd, fwdStatus: status, stored: cache.wouldStore(key, creq, { status, headers: upstreamPart(headers) }) }) }),
        done: (status, headers, got) => {
          if (got === null) { cache.countTooBig(); return; }
          cache.fill(key, creq, { status, headers: upstreamPart(headers) }, got);
        },
      });
      return next(ctx);
    }
  }
}

/** A stored answer to this client: its headers, current Age, sluice's own headers, Cache-Status. */
/** The access line's word for an answer's Cache-Status: hit, stale, revalidated (304) or miss. */
function accessWord(s: CacheStatusParts): string {
  if (s.detail === 'max-stale' || s.detail === 'stale-while-revalidate' || s.detail === 'stale-if-error') return 'stale';
  if (s.hit) return 'hit';
  return s.fwdStatus === 304 ? 'revalidated' : 'miss';
}

function serveStored(ctx: RequestContext, entry: CachedEntry, status: CacheStatusParts, now: number): void {
  ctx.access.cache = accessWord(status);
  const headers: Record<string, string> = { ...servedHeaders(entry, now), ...ctx.answerHeaders, 'cache-status': cacheStatus(status) };
  if (ctx.method !== 'HEAD') headers['content-length'] = String(entry.body.byteLength);
  ctx.res.writeHead(entry.status, headers);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : entry.body);
}

function send(ctx: RequestContext, reply: Fetched, status: CacheStatusParts): void {
  ctx.access.cache = accessWord(status);
  const headers: Record<string, string> = { ...reply.headers, ...ctx.answerHeaders, 'cache-status': cacheStatus(status) };
  if (ctx.method !== 'HEAD') headers['content-length'] = String(reply.body.byteLength);
  ctx.res.writeHead(reply.status, headers);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : reply.body);
}

/**
 * The upstream call of a validation, made on behalf of everyone sharing it: not tied to this client
 * (its leaving must not cancel the others' answer); the target's timeouts bound it.
 */
function fetcher(ctx: RequestContext, target: TargetRuntime, body: Buffer | undefined): (conditional: Headers) => Promise<Fetched> {
  const base = upstreamRequestHeaders(ctx.req, ctx.requestId);
  for (const n of CLIENT_CONDITIONALS) delete base[n];
  return async (conditional) => {
    const { reply, admission } = await target.callUpstream(
      { method: ctx.method, path: ctx.upstreamPath, headers: { ...base, ...conditional }, body },
      { idempotent: true, cost: { requests: 1, tokens: 0 } },
    );
    try {
      const buf = await readAll(reply.body);
      return { status: reply.status, headers: flattenHeaders(endToEnd(reply.headers)), body: buf };
    } finally {
      admission.settle({});
    }
  };
}

function readAll(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => resolve(Buffer.concat(chunks)));
    body.once('error', reject);
  });
}

/** After a successful unsafe method: invalidate its URL and same-origin Location / Content-Location. */
function watchUnsafe(ctx: RequestContext, target: TargetRuntime, cache: TargetCache, url: string): void {
  const host = ctx.req.headers.host;
  const origins = [...target.config.replicas.map((r) => new URL(r).origin), ...(host ? [`http://${host}`, `https://${host}`] : [])];
  tapResponse(ctx.res, 0, {
    head: () => ({}),
    done: (status, headers) => cache.afterUnsafe(ctx.method, url, status, headers, origins),
  }, false);
}
