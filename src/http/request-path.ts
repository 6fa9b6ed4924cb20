// The request target, made safe to route before anything else looks at it. Without this,
// `GET /t/../../etc/passwd` matched target `/t` and reached its upstream as `/base/../../etc/passwd`,
// which many servers resolve outside `/base`. Envoy and nginx normalise the same way.
//
// What happens to a path, in order:
// - absolute-form (`http://host/p?q`, RFC 9112 §3.2.2) keeps only its path and query; any other
//   target that does not start with `/` is refused (`*`, authority-form);
// - refused outright, because an upstream may decode them into something else than what was routed:
//   a backslash or its encoding `%5C`, an encoded slash `%2F`, NUL (`%00`), an encoded `%` in front of
//   one of those or of a dot (`%252e`: double encoding), a malformed `%` escape, and `..;`/`.;`
//   segments (Tomcat-style path parameters on a dot-segment);
// - percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2), so `%2e%2E` is `..`;
// - dot-segments are removed (RFC 3986 §5.2.4 remove_dot_segments), so `..` never climbs above `/`.
// Empty segments (`//`) are kept: they do not climb, and some upstreams give them meaning.
// Pure: no I/O, no clock. The query string is passed through untouched.

export type NormalizedTarget =
  | { ok: true; path: string; query: string }
  | { ok: false; reason: string };

const UNRESERVED_ESCAPE = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/g;

export function normalizeRequestTarget(target: string): NormalizedTarget {
  let raw = target;
  if (!raw.startsWith('/')) {
    if (!/^https?:\/\//i.test(raw)) return { ok: false, reason: 'the request target must be a path' };
    try { new URL(raw); } catch { return { ok: false, reason: 'the request target is not a valid URL' }; }
    // The raw text after the authority, not URL's pathname (already resolved, differently encoded):
    // one normaliser below decides for both forms.
    const afterAuthority = raw.slice(raw.indexOf('//') + 2);
    const at = afterAuthority.search(/[/?]/);
    raw = at < 0 ? '/' : afterAuthority[at] === '?' ? '/' + afterAuthority.slice(at) : afterAuthority.slice(at);
  }
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);

  if (rawPath.includes('\\')) return { ok: false, reason: 'a backslash in the path' };
  if (/%(?![0-9A-Fa-f]{2})/.test(rawPath)) return { ok: false, reason: 'a malformed percent-escape in the path' };
  if (/%2[Ff]/.test(rawPath)) return { ok: false, reason: 'an encoded slash (%2F) in the path' };
  if (/%5[Cc]/.test(rawPath)) return { ok: false, reason: 'an encoded backslash (%5C) in the path' };
  if (/%00/.test(rawPath)) return { ok: false, reason: 'an encoded NUL (%00) in the path' };
  if (/%25(?:2[EeFf]|5[Cc]|00)/.test(rawPath)) return { ok: false, reason: 'a double-encoded dot, slash or backslash in the path' };

  const decoded = rawPath.replace(UNRESERVED_ESCAPE, (esc) => String.fromCharCode(parseInt(esc.slice(1), 16)));
  if (decoded.split('/').some((seg) => /^\.\.?;/.test(seg))) return { ok: false, reason: 'a dot-segment with parameters (..;) in the path' };
  return { ok: true, path: removeDotSegments(decoded), query };
}

/** RFC 3986 §5.2.4, for an absolute path (it starts with `/`); the result starts with `/` too. */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/').slice(1); // '' before the leading '/'
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..' && out.length > 0) out.pop();
      // A trailing dot-segment leaves a trailing slash: `/a/b/..` is `/a/`.
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return '/' + out.join('/');
}
