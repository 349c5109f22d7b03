// The audience-measurement script `usage.js` (DATA-1, DATA-2) on a service's
// page, in a real (headless) Chromium.
//
// Starts the `mutualis` binary (--demo) and a fake service: a small node HTTP
// server on another loopback port whose pages load `<platform>/usage.js` with
// one <script> tag, under a strict CSP (`default-src 'self'; script-src 'self'
// <platform>; connect-src <platform>`: no inline code). Then checks, from what
// the browser sends and what the platform answers:
//   - a page view: one beacon, JSON {service, type: "page", page: the path
//     without the query string, commune}, answered 204;
//   - MutualisUsage.event(type, feature): one beacon, answered 204;
//   - Do Not Track and Global Privacy Control: no beacon at all;
//   - no cookie and no storage, for the platform's origin or the service's;
//     usage.js served as JavaScript without Set-Cookie;
//   - data-auto="off": nothing on load, one beacon on MutualisUsage.page();
//   - controls: the CSP is in force (an inline script is refused and seen),
//     and the platform does refuse a beacon it cannot keep (422), so that a
//     204 means something.
// Every test fails on a CSP violation, a script error or a console error.
//
// Two channels say what the platform answered each beacon: the response as
// Chromium saw it (Playwright exposes the responses of `navigator.sendBeacon`
// requests, resource type "ping", in the version this package pins), and the
// platform's own request log ("POST /api/v1/usage/beacon → 204"). A beacon
// carries no DNT or Sec-GPC header here (checked), so a 204 means the event
// was kept, not dropped at the browser's wish.
//
// Environment:
//   MUTUALIS_BIN      the binary (default $HOME/.cache/mutualis-target/debug/mutualis)
//   MUTUALIS_CHROMIUM the browser (default /usr/bin/chromium)
//   CI=true           a missing prerequisite fails the run instead of skipping it.
//
// Run: npm ci && npm test   (from tests/interop/browser)

import { after, before, describe, it } from 'node:test';
import { Server, freePort, sleep } from '../lib/server.mjs';
import { BIN, CHROMIUM, CHROMIUM_ARGS, prerequisites } from './common.mjs';
import assert from 'node:assert/strict';
import http from 'node:http';

const READY_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;
const DEMO_INSEE = '69266'; // Villeurbanne, which has joined Toodego in the demo
/** How long to wait, after the page's load, for a beacon that must not come. */
const SETTLE_MS = 750;

const BEACON_PATH = '/api/v1/usage/beacon';

// ---------------------------------------------------------------- prerequisites

const { skip: DESCRIBE_SKIP } = prerequisites({
  suite: 'Mutualis usage.js browser tests',
  check: 'usage.js test prerequisites',
  build: 'cargo build -p server',
});

// ---------------------------------------------------------------- the fake service

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The service's pages: each loads usage.js (attributes per page) under a strict CSP. */
class FakeService {
  constructor(platform) {
    this.platform = platform;
    this.server = null;
  }

  csp() {
    const p = this.platform;
    return `default-src 'self'; script-src 'self' ${p}; connect-src ${p}`;
  }

  page({ title, usage, inline = false }) {
    const attrs = Object.entries(usage).map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`).join('');
    return `<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Toodego — ${escapeHtml(title)}</title>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p>Demandez en ligne votre vignette de stationnement résident.</p>
<p><a href="/demarches">Toutes les démarches</a></p>
</main>
${inline ? '<script>window.inlineScriptRan = true;</script>\n' : ''}<script src="${this.platform}/usage.js"${attrs} defer></script>
</body>
</html>
`;
  }

  async start() {
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    const routes = {
      '/demarches/stationnement': {
        title: 'Stationnement résident',
        usage: { service: 'toodego', commune: DEMO_INSEE },
      },
      '/demarches/sans-mesure-automatique': {
        title: 'Stationnement, compté à la main',
        usage: { service: 'toodego', commune: DEMO_INSEE, auto: 'off' },
      },
      '/service-inconnu': { title: 'Service inconnu', usage: { service: 'inconnu' } },
      '/controle-csp': { title: 'Contrôle de la CSP', inline: true, usage: { service: 'toodego', commune: DEMO_INSEE } },
    };
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url, this.base);
      if (url.pathname === '/favicon.ico') {
        // Chromium asks for it; a 404 would be a console error.
        res.writeHead(204, { 'cache-control': 'no-store' });
        res.end();
        return;
      }
      const route = routes[url.pathname];
      if (req.method !== 'GET' || !route) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('not found');
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': this.csp(),
        'cache-control': 'no-store',
      });
      res.end(this.page(route));
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
  }

  async stop() {
    if (this.server) await new Promise((resolve) => this.server.close(resolve));
    this.server = null;
  }
}

// ---------------------------------------------------------------- helpers

/**
 * A fresh browser context (no cookie, no cache) and its page, which record
 * the CSP violations (event and console), script errors, console errors, and
 * every request to the beacon's URL. `initScript`: run before the page's own
 * scripts (to change what the browser says of itself).
 */
async function newPage(browser, beaconUrl, { initScript } = {}) {
  const context = await browser.newContext();
  // Through the DevTools protocol, so the page's CSP does not apply to it.
  await context.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample });
    });
  });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const seen = { beacons: [], errors: [], consoleErrors: [], cspConsole: [] };
  // On the context: a beacon from any page or frame of it counts.
  context.on('request', (request) => {
    if (request.url() === beaconUrl) seen.beacons.push(request);
  });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('console', (message) => {
    const text = message.text();
    if (/content security policy/i.test(text)) seen.cspConsole.push(text);
    else if (message.type() === 'error') seen.consoleErrors.push(text);
  });
  return { context, page, seen };
}

/** No CSP violation (event or console), no script error, no console error. */
async function assertCleanPage(page, seen) {
  const violations = await page.evaluate(() => window.cspViolations);
  assert.deepEqual(violations, [], 'usage.js needs nothing the service page\'s CSP forbids');
  assert.deepEqual(seen.cspConsole, [], 'no CSP message in the console');
  assert.deepEqual(seen.errors, [], 'no script error on the page');
  assert.deepEqual(seen.consoleErrors, [], 'no error in the console');
}

/** The beacon's JSON body, and a check that it is sent the way usage.js says (text, POST). */
function beaconBody(request) {
  assert.equal(request.method(), 'POST');
  const raw = request.postData();
  assert.ok(raw, 'the beacon has a body');
  let body;
  try {
    body = JSON.parse(raw);
  } catch (e) {
    assert.fail(`the beacon's body is not JSON (${e.message}): ${raw}`);
  }
  return { raw, body };
}

/** What the platform answered the beacon, as Chromium saw it. */
async function beaconStatus(request) {
  const response = await request.response();
  // Exposed for sendBeacon's "ping" requests in the pinned playwright-core;
  // the platform's log (beaconLog) is checked besides, independently.
  assert.ok(response, `Playwright exposes no response for the beacon (${request.resourceType()}); see the platform's log`);
  return response.status();
}

async function waitBeacons(seen, count, what) {
  const deadline = Date.now() + 15_000;
  while (seen.beacons.length < count && Date.now() < deadline) await sleep(50);
  assert.ok(seen.beacons.length >= count, `${what}: ${count} beacon(s) expected, ${seen.beacons.length} sent`);
}

/** The page's load, then a pause in which a late beacon would have time to leave. */
async function settle(page) {
  await page.waitForLoadState('load');
  await page.waitForTimeout(SETTLE_MS);
}

// ---------------------------------------------------------------- the tests

describe('Mutualis usage.js on a service page, in headless Chromium (DATA-1, DATA-2)', { skip: DESCRIBE_SKIP, timeout: 10 * 60_000 }, () => {
  const platform = new Server({ bin: BIN, prefix: 'mutualis-usage-', readyTimeoutMs: READY_TIMEOUT_MS });
  let service;
  let browser;
  let beaconUrl;
  let pageUrl; // the fake service's page, with a query string that must not be sent
  let manualUrl; // its page with data-auto="off"

  const onExit = () => platform.killNow('SIGKILL');
  const onSignal = (sig) => {
    platform.killNow('SIGKILL');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  /** The statuses the platform logged for beacons, oldest first. */
  function beaconLog() {
    return platform.requests(100_000)
      .map((line) => /^POST (\S+) → (\d+)$/.exec(line))
      .filter((m) => m && m[1] === BEACON_PATH)
      .map((m) => Number(m[2]));
  }

  /** Waits until the platform has logged `count` more beacons than `before`, and returns their statuses. */
  async function beaconsLoggedSince(before, count) {
    const deadline = Date.now() + 10_000;
    let log = beaconLog();
    while (log.length < before + count && Date.now() < deadline) {
      await sleep(50);
      log = beaconLog();
    }
    return log.slice(before);
  }

  before(async () => {
    process.on('exit', onExit);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    await platform.start();
    beaconUrl = `${platform.base}${BEACON_PATH}`;
    service = new FakeService(platform.base);
    await service.start();
    pageUrl = `${service.base}/demarches/stationnement?nom=Dupont`;
    manualUrl = `${service.base}/demarches/sans-mesure-automatique?nom=Dupont`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, { timeout: 120_000 });

  after(async () => {
    try {
      if (browser) await browser.close();
    } finally {
      if (service) await service.stop();
      await platform.stop();
      process.off('exit', onExit);
    }
  });

  it('control: the fake service page\'s CSP is in force and its violations are seen', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page, seen } = await newPage(browser, beaconUrl);
    try {
      await page.goto(`${service.base}/controle-csp`);
      await settle(page);
      assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, 'the inline script must not run');
      const violations = await page.evaluate(() => window.cspViolations);
      assert.equal(violations.length, 1, `one violation expected (the inline script): ${JSON.stringify(violations)}`);
      assert.match(violations[0].directive, /^script-src/);
      assert.equal(violations[0].blocked, 'inline');
      assert.equal(seen.cspConsole.length, 1, `the console says it too: ${JSON.stringify(seen.cspConsole)}`);
      assert.equal(await page.evaluate(() => typeof window.MutualisUsage), 'object', 'usage.js from the platform is allowed');
    } finally {
      await context.close();
    }
  });

  it('DATA-1, DATA-2: a page view sends one beacon with the path only (no query string), answered 204', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page, seen } = await newPage(browser, beaconUrl);
    try {
      const logged = beaconLog().length;
      const sent = page.waitForRequest(beaconUrl);
      await page.goto(pageUrl);
      const request = await sent;
      const { raw, body } = beaconBody(request);
      assert.deepEqual(body, { service: 'toodego', type: 'page', page: '/demarches/stationnement', commune: DEMO_INSEE },
        `the page view's beacon: ${raw}`);
      assert.doesNotMatch(raw, /Dupont|nom=|\?/, 'DATA-2: the query string is not sent');
      const headers = await request.allHeaders();
      for (const [name, value] of Object.entries(headers)) {
        assert.doesNotMatch(value, /Dupont|nom=/, `DATA-2: the query string is not sent in the ${name} header either`);
      }
      assert.match(headers['content-type'] || '', /^text\/plain/, 'a text body: no CORS preflight');
      assert.equal(headers.dnt, undefined, 'no DNT header: a 204 means kept');
      assert.equal(headers['sec-gpc'], undefined, 'no Sec-GPC header: a 204 means kept');
      assert.equal(await beaconStatus(request), 204, 'the platform kept the page view');
      await settle(page);
      assert.equal(seen.beacons.length, 1, `exactly one beacon for one page view: ${seen.beacons.map((r) => r.postData()).join(' | ')}`);
      assert.equal(seen.beacons[0], request);
      assert.deepEqual(await beaconsLoggedSince(logged, 1), [204], 'the platform logged one beacon, answered 204');
      await assertCleanPage(page, seen);
    } finally {
      await context.close();
    }
  });

  it('DATA-1: MutualisUsage.event("search", "recherche-demarche") sends one feature beacon, answered 204', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page, seen } = await newPage(browser, beaconUrl);
    try {
      await page.goto(pageUrl);
      await waitBeacons(seen, 1, 'the page view');
      await settle(page);
      assert.equal(seen.beacons.length, 1, 'the page view only, so far');
      const logged = beaconLog().length;
      const sent = page.waitForRequest((r) => r.url() === beaconUrl && r !== seen.beacons[0]);
      const returned = await page.evaluate(() => window.MutualisUsage.event('search', 'recherche-demarche'));
      assert.equal(returned, true, 'event() says it sent the beacon');
      const request = await sent;
      const { raw, body } = beaconBody(request);
      assert.deepEqual(body, { service: 'toodego', type: 'search', feature: 'recherche-demarche', commune: DEMO_INSEE },
        `the event's beacon: ${raw}`);
      assert.equal(await beaconStatus(request), 204, 'the platform kept the event');
      await page.waitForTimeout(SETTLE_MS);
      assert.equal(seen.beacons.length, 2, 'exactly one more beacon for one event');
      assert.deepEqual(await beaconsLoggedSince(logged, 1), [204], 'the platform logged one beacon, answered 204');
      // An event without its feature (or type) is not sent at all.
      assert.equal(await page.evaluate(() => window.MutualisUsage.event('search')), false);
      assert.equal(await page.evaluate(() => window.MutualisUsage.event('', 'x')), false);
      await page.waitForTimeout(SETTLE_MS);
      assert.equal(seen.beacons.length, 2, 'nothing sent for incomplete events');
      await assertCleanPage(page, seen);
    } finally {
      await context.close();
    }
  });

  for (const { name, what, initScript, check } of [
    {
      name: 'Do Not Track (navigator.doNotTrack is "1")',
      what: 'DNT',
      initScript: () => {
        Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true });
      },
      check: () => navigator.doNotTrack === '1',
    },
    {
      name: 'Global Privacy Control (navigator.globalPrivacyControl is true)',
      what: 'GPC',
      initScript: () => {
        Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true });
      },
      check: () => navigator.globalPrivacyControl === true,
    },
  ]) {
    it(`DATA-2: with ${name}, no beacon at all: not the page view, not page(), not event()`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { context, page, seen } = await newPage(browser, beaconUrl, { initScript });
      try {
        const logged = beaconLog().length;
        await page.goto(pageUrl);
        await settle(page);
        assert.equal(await page.evaluate(check), true, `the page sees the browser's ${what} wish`);
        assert.equal(await page.evaluate(() => typeof window.MutualisUsage), 'object', 'usage.js ran');
        assert.equal(await page.evaluate(() => window.MutualisUsage.page()), false, 'page() sends nothing and says so');
        assert.equal(await page.evaluate(() => window.MutualisUsage.event('search', 'recherche-demarche')), false,
          'event() sends nothing and says so');
        await page.waitForTimeout(SETTLE_MS);
        assert.deepEqual(seen.beacons.map((r) => r.postData()), [], `no beacon with ${what}`);
        assert.deepEqual(beaconLog().slice(logged), [], `the platform received no beacon with ${what}`);
        await assertCleanPage(page, seen);
      } finally {
        await context.close();
      }
    });
  }

  it('DATA-2: no cookie and no storage, for the platform or the service; usage.js served as JavaScript without Set-Cookie', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page, seen } = await newPage(browser, beaconUrl);
    try {
      const script = page.waitForResponse(`${platform.base}/usage.js`);
      await page.goto(pageUrl);
      const response = await script;
      assert.equal(response.status(), 200);
      assert.equal(await response.headerValue('content-type'), 'text/javascript; charset=utf-8');
      assert.equal(await response.headerValue('set-cookie'), null, 'usage.js sets no cookie');
      await waitBeacons(seen, 1, 'the page view');
      assert.equal(await page.evaluate(() => window.MutualisUsage.event('search', 'recherche-demarche')), true);
      assert.equal(await page.evaluate(() => window.MutualisUsage.page()), true);
      await waitBeacons(seen, 3, 'the page view, an event and page()');
      await settle(page);
      assert.equal(seen.beacons.length, 3);
      for (const request of seen.beacons) {
        const answer = await request.response();
        assert.ok(answer, 'the beacon\'s response is exposed');
        assert.equal(answer.status(), 204, `kept: ${request.postData()}`);
        assert.equal(await answer.headerValue('set-cookie'), null, 'a beacon\'s answer sets no cookie');
      }
      assert.deepEqual(await context.cookies(platform.base), [], 'no cookie for the platform\'s origin');
      assert.deepEqual(await context.cookies(service.base), [], 'no cookie for the service\'s origin');
      assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie in the page');
      assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0],
        'nothing stored in the browser');
      const state = await context.storageState();
      assert.deepEqual(state, { cookies: [], origins: [] }, 'no cookie, no local storage, in the whole context');
      await assertCleanPage(page, seen);

      // Control: both checks do see a cookie the platform sets (its pages'
      // CSRF cookie), so that the empty answers above mean something.
      const own = await page.goto(`${platform.base}/aide`);
      assert.match(await own.headerValue('set-cookie') || '', /=/, 'the Set-Cookie of a platform page is seen');
      const cookies = await context.cookies(platform.base);
      assert.ok(cookies.length > 0, 'the platform\'s own pages set a cookie, which the check would have seen');
    } finally {
      await context.close();
    }
  });

  it('DATA-1: data-auto="off" sends nothing on load, and one page view on MutualisUsage.page()', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page, seen } = await newPage(browser, beaconUrl);
    try {
      const logged = beaconLog().length;
      await page.goto(manualUrl);
      await settle(page);
      assert.equal(await page.evaluate(() => typeof window.MutualisUsage), 'object', 'usage.js ran');
      assert.deepEqual(seen.beacons.map((r) => r.postData()), [], 'no beacon on load with data-auto="off"');
      assert.deepEqual(beaconLog().slice(logged), [], 'the platform received no beacon on load');
      const sent = page.waitForRequest(beaconUrl);
      assert.equal(await page.evaluate(() => window.MutualisUsage.page()), true, 'page() says it sent the beacon');
      const request = await sent;
      const { raw, body } = beaconBody(request);
      assert.deepEqual(body, { service: 'toodego', type: 'page', page: '/demarches/sans-mesure-automatique', commune: DEMO_INSEE },
        `the page view's beacon: ${raw}`);
      assert.equal(await beaconStatus(request), 204, 'the platform kept the page view');
      await page.waitForTimeout(SETTLE_MS);
      assert.equal(seen.beacons.length, 1, 'exactly one beacon for one page() call');
      assert.deepEqual(await beaconsLoggedSince(logged, 1), [204], 'the platform logged one beacon, answered 204');
      await assertCleanPage(page, seen);
    } finally {
      await context.close();
    }
  });

  it('DATA-1, control: a service the platform does not know: the beacon is sent and refused (422), so a 204 means kept', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page, seen } = await newPage(browser, beaconUrl);
    try {
      const logged = beaconLog().length;
      const sent = page.waitForRequest(beaconUrl);
      await page.goto(`${service.base}/service-inconnu`);
      const request = await sent;
      assert.deepEqual(beaconBody(request).body, { service: 'inconnu', type: 'page', page: '/service-inconnu' });
      assert.equal(await beaconStatus(request), 422, 'refused: the platform does not answer 204 to anything');
      assert.deepEqual(await beaconsLoggedSince(logged, 1), [422]);
      await settle(page);
      assert.equal(seen.beacons.length, 1);
      // The refusal shows in the console (a failed load): expected here.
      assert.ok(seen.consoleErrors.some((e) => /422/.test(e)), `the console says 422: ${JSON.stringify(seen.consoleErrors)}`);
      seen.consoleErrors = seen.consoleErrors.filter((e) => !/422/.test(e));
      await assertCleanPage(page, seen);
    } finally {
      await context.close();
    }
  });
});
