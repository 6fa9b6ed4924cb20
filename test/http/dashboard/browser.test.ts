// The dashboard in a real browser (issue #15): Debian's chromium, headless, against a node under
// generated load. The node samples on a clock the test steps, so every chart update is one known
// tick: no sleeps, and each wait on the page fails after a bounded time.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { request } from 'undici';
import type { Page } from 'playwright-core';
import { VirtualClock } from '../../../src/clock.ts';
import type { SluiceNode } from '../../../src/node.ts';
import { seeded } from '../../../src/random.ts';
import { launchChromium, type Browser } from '../../support/chromium.ts';
import { startNode } from '../../support/nodes.ts';
import { UpstreamStub, deferred } from '../../support/upstream-stub.ts';

const TOKEN = 'e2e-dash-token';
const TICKS = 45;
const WAIT_MS = 15_000;

// Chromium's start and a dozen ticks on a busy 2-core machine: more than the default deadline.
const e2e = suite('dashboard in headless chromium', { timeoutMs: 90_000 });
let healthy: UpstreamStub;
let failing: UpstreamStub;
let node: SluiceNode;
let clock: VirtualClock;
let browser: Browser;
let page: Page;
let gate = deferred();
/** Which targets' calls reached the healthy upstream this tick; `bothHeld` once llm's and kb's have. */
let held = new Set<string>();
let bothHeld = deferred();
const random = seeded(15);
const problems: string[] = [];
const requested: string[] = [];

e2e.before(async () => {
  healthy = await UpstreamStub.start(async (r, res) => {
    held.add(r.method === 'POST' ? 'kb' : r.url.startsWith('/q') ? 'llm' : 'search');
    if (held.has('llm') && held.has('kb')) bothHeld.resolve();
    await gate.promise; // held until the tick's sample is taken: the charts then show calls in flight
    await new Promise((done) => setTimeout(done, 5 + Math.floor(random() * 40)));
    const items = r.method === 'POST' ? (JSON.parse(r.body.toString()) as unknown[]).map((_, i) => ({ i })) : { path: r.url };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(items));
  });
  failing = await UpstreamStub.start((_r, res) => { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('down'); });
  // Whole seconds, so the ticks fall on the feed's step boundaries one per advance.
  clock = new VirtualClock(Math.ceil(Date.now() / 1000) * 1000);
  node = await startNode({
    node: { id: 'dash-e2e' }, cluster: { name: 'e2e' },
    admin: { token: TOKEN, dashboard: { sampleMs: 1000, points: 60 } },
    targets: [
      {
        name: 'llm', prefix: '/llm', replicas: [healthy.url, failing.url], batch: { mode: 'coalesce', maxWaitMs: 5 },
        limits: [{ name: 'rpm', dimension: 'requests', per: 'target', limit: 600, windowMs: 60_000 }],
        // Open long enough to stay open for the whole test once tripped.
        breaker: { consecutiveFailures: 3, openMs: 600_000, maxOpenMs: 600_000 },
        retry: { attempts: 3, baseMs: 1, maxMs: 5, budget: 1 },
      },
      { name: 'kb', prefix: '/kb', replicas: [healthy.url], batch: { mode: 'merge', maxWaitMs: 10 } },
      // Answers kept 2 s whatever the upstream says: some lookups hit, some go upstream.
      { name: 'search', prefix: '/search', replicas: [healthy.url], cache: { enabled: true, ttlMs: 2_000, upstreamHeaders: 'ignore' } },
    ],
  }, { dashboardClock: clock });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => requested.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
});

e2e.after(async () => {
  gate.resolve();
  await browser?.close();
  await node?.stop();
  await healthy?.close();
  await failing?.close();
});

/** One round of load: a burst of GETs over a few keys (coalesced), of POSTs (merged), of cached GETs. */
function burst(k: number): Promise<unknown> {
  const searches = Array.from({ length: 4 }, (_, i) => request(`${node.url}/search/term${(k + i) % 9}`).then((r) => r.body.dump()));
  const n = 8 + Math.round(6 * Math.sin(k / 4)) + Math.floor(random() * 6);
  const gets = Array.from({ length: n }, (_, i) => request(`${node.url}/llm/q${i % 3}`).then((r) => r.body.dump()));
  const posts = Array.from({ length: 3 + (k % 4) }, (_, i) => request(`${node.url}/kb/lookup`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: i }),
  }).then((r) => r.body.dump()));
  return Promise.all([...gets, ...posts, ...searches]);
}

/** `p`, or a failure naming `what` after WAIT_MS: no wait in this test is unbounded. */
function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing after ${WAIT_MS} ms`)), WAIT_MS); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** One sample: load in flight at the healthy upstream, the node's clock stepped one second, load answered. */
async function tick(k: number): Promise<void> {
  gate = deferred();
  held = new Set();
  bothHeld = deferred();
  const load = burst(k);
  await bounded(`tick ${k}: calls of llm and kb at the upstream`, bothHeld.promise);
  clock.advance(1_000);
  await bounded(`tick ${k}: the sample`, node.dashboard.sample());
  gate.resolve();
  await bounded(`tick ${k}: the load answered`, load);
  await page.waitForFunction(`Number(document.body.dataset.ticks) >= ${k}`, null, { timeout: WAIT_MS });
}

const points = async (target: string, chart: string) =>
  Number(await page.getAttribute(`[data-target="${target}"] [data-chart="${chart}"] svg`, 'data-points'));
// A locator wait outlives navigations (the token page replaces itself with the dashboard), where a
// waitForFunction would fail when its document goes away mid-wait.
const connected = () => page.locator('body[data-connected="1"]').waitFor({ timeout: WAIT_MS });

e2e('without the token the browser gets a form; the token entered opens the dashboard and leaves the address bar', async () => {
  const first = await page.goto(`${node.url}/_sluice/`, { timeout: WAIT_MS });
  assert.is(first!.status(), 401);
  await page.fill('input[name="token"]', TOKEN);
  await page.click('button[type="submit"]');
  await connected();
  assert.not.match(page.url(), 'token', 'the token left the address bar');
  // A reload finds the token kept in this tab's session.
  await page.reload({ timeout: WAIT_MS, waitUntil: 'commit' });
  await connected();
  assert.is(await page.textContent('#identity'), 'node dash-e2e · cluster e2e');
  assert.match(await page.textContent('#cluster') ?? '', /dash-e2e.*singleton/);
  // The two token pages were 401 answers, which chromium logs; nothing else may be.
  assert.ok(problems.every((p) => p.includes('401')), problems.join('\n'));
  problems.length = 0;
});

e2e('every tick of the feed adds a data point to the charts of each target', async () => {
  const seen: number[] = [];
  for (let k = 1; k <= 12; k++) {
    await tick(k);
    seen.push(await points('llm', 'traffic'));
  }
  // Rates need two samples: the first tick has none, then one more point per tick.
  for (let i = 2; i < seen.length; i++) assert.is(seen[i], seen[i - 1]! + 1, `tick ${i + 1}: ${seen.join(',')}`);
  assert.ok(seen[seen.length - 1]! >= 10);
  assert.ok(await points('kb', 'traffic') >= 10);
  assert.ok(await points('llm', 'latency') >= 10);
  assert.ok(await points('llm', 'limits') >= 10);
  assert.ok(await points('llm', 'load') >= 10);
});

e2e('the failing replica shows its breaker open, the healthy one closed, and no call reaches it while open', async () => {
  for (let k = 13; k <= 24; k++) await tick(k);
  const failingBand = `[data-target="llm"] g.band[data-replica="${failing.url}"]`;
  const healthyBand = `[data-target="llm"] g.band[data-replica="${healthy.url}"]`;
  await page.waitForSelector(`${failingBand}[data-state="open"]`, { timeout: WAIT_MS });
  assert.ok(await page.$(`${failingBand} rect[data-state="open"]`), 'an open stretch on its band');
  assert.is(await page.getAttribute(healthyBand, 'data-state'), 'closed');
  assert.ok(await page.$(`[data-target="llm"] tr[data-replica="${failing.url}"] .state.open`), 'the replica table says open');
  // The oracle is the stub: 3 consecutive failures opened it, and the breaker then sent nothing.
  const calls = failing.calls;
  assert.ok(calls >= 3, `the failing stub saw ${calls} calls`);
  for (let k = 25; k <= 28; k++) await tick(k);
  assert.is(failing.calls, calls, 'no calls while open');
});

e2e('the page shows calls saved, limit usage and latency, with no script or CSP error; a screenshot is saved', async () => {
  for (let k = 29; k <= TICKS; k++) await tick(k);
  const legend = async (target: string, chart: string) => page.textContent(`[data-target="${target}"] [data-chart="${chart}"] .legend`);
  assert.match(await legend('llm', 'traffic') ?? '', /saved: coalesced \d/);
  assert.match(await legend('kb', 'traffic') ?? '', /saved: merged \d/);
  assert.match(await legend('llm', 'limits') ?? '', /rpm .*\d+ \/ 600/);
  assert.match(await legend('llm', 'latency') ?? '', /client p99 \d/);
  assert.match(await legend('search', 'traffic') ?? '', /saved: cached \d/);
  assert.ok(await points('search', 'cache') >= 10, 'the hit ratio is plotted');
  // Every series the node has is listed, whether a chart draws it or not.
  await page.click('#all-series summary');
  // The table is drawn on the details' toggle event, which fires after the click returns.
  await page.waitForSelector('#series-table table', { timeout: 5_000 });
  const listed = await page.textContent('#series-table') ?? '';
  for (const name of ['sluice_requests_total', 'sluice_replica_breaker_transitions_total', 'sluice_bus_messages']) assert.match(listed, name);
  await page.click('#all-series summary');
  assert.equal(problems, []);
  // Nothing is fetched from anywhere but the node: no CDN, no font, no script from elsewhere.
  assert.ok(requested.length >= 3);
  assert.equal(requested.filter((u) => !u.startsWith(`${node.url}/_sluice/`)), []);
  mkdirSync('test-output', { recursive: true });
  await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true });
});

e2e.run();
