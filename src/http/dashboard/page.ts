// The dashboard page: index.html with style.css and the scripts put inline, read once from this folder
// as they are (no build step; nothing fetched from elsewhere), and a small token page for a browser
// that comes without the admin token. Inline code is allowed by its hash in the CSP, nothing else.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const read = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');
const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

interface Page { readonly html: string; readonly headers: Readonly<Record<string, string>> }

function page(template: string, style: string, script: string): Page {
  const html = template.replace('/*STYLE*/', () => style).replace('/*SCRIPT*/', () => script);
  return {
    html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-security-policy': `default-src 'none'; script-src ${hash(script)}; style-src ${hash(style)}; `
        + `connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    },
  };
}

const style = read('./style.css');

/** The live dashboard (needs the token): one script, the files in the order they depend on each other. */
export const DASHBOARD_PAGE: Page = page(read('./index.html'), style, ['./series-store.js', './charts.js', './app.js'].map(read).join('\n'));

/** Asked for by a browser without a valid token: a form that reloads the page with `?token=`. */
export const TOKEN_PAGE: Page = page(read('./token.html'), style, read('./token.js'));
