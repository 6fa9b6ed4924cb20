// Header rules of a proxy (RFC 9110 §7.6.1): hop-by-hop headers and those named in Connection are
// never forwarded; the client's address and host travel as X-Forwarded-*.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
]);

export type HeaderMap = Record<string, string | string[]>;

const NO_TOKENS: ReadonlySet<string> = new Set();

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  // The common values name only hop-by-hop options: skip the split on the hot path.
  if (value === undefined || value === 'keep-alive' || value === 'close') return NO_TOKENS;
  const all = Array.isArray(value) ? value.join(',') : value;
  return new Set(all.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/** Copies end-to-end headers, dropping hop-by-hop ones and those in `drop`. Names come out lower case. */
export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop: readonly string[] = []): HeaderMap {
  const listed = connectionTokens(headers.connection);
  const out: HeaderMap = {};
  // for…in rather than Object.entries: no pair arrays per header, twice per proxied request.
  for (const rawName in headers) {
    const value = headers[rawName];
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name) || (listed.size > 0 && listed.has(name)) || (drop.length > 0 && drop.includes(name))) continue;
    out[name] = value;
  }
  return out;
}

/** Request headers for the upstream: end-to-end ones, Host replaced by the upstream's, X-Forwarded-* added. */
export function upstreamRequestHeaders(req: IncomingMessage, requestId: string): HeaderMap {
  // Expect: Node has already answered 100 Continue to the client; undici refuses the header (a 502).
  const out = endToEnd(req.headers, ['host', 'expect']);
  const ip = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${ip}` : ip;
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host;
  out['x-forwarded-proto'] = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  out['x-request-id'] = requestId; // the client's own when it was sane (server.ts), else ours
  return out;
}

/** The client's address as the limiter keys it: the socket peer, not a spoofable header. */
export const clientIp = (req: IncomingMessage): string => req.socket.remoteAddress ?? 'unknown';

export function headerValue(headers: IncomingHttpHeaders | HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
