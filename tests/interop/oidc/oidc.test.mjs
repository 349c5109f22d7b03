// OpenID Connect interoperability of Mutualis with `openid-client`, the
// OpenID-certified relying-party library (https://openid.net/certification/),
// the browser steps (login form, consent screen, logout confirmation) done by
// a real headless Chromium.
//
// The test starts the `mutualis` binary itself on a free loopback port with a
// fresh data directory (--demo --no-metrics), registers its relying parties
// with `mutualis client create` and an inhabitant with `mutualis user create`,
// then plays the relying party:
//   a. discovery;
//   b. confidential client (client_secret_basic): code + PKCE + state + nonce
//      through the login and consent forms, ID token validated by the library
//      (JWKS signature, iss, aud, nonce, RFC 9207 iss), userinfo;
//   c. refresh with rotation and family revocation on reuse;
//   d. introspection and revocation (RFC 7662, RFC 7009);
//   e. public client (token_endpoint_auth_method none + PKCE);
//   f. ES256-signed ID tokens;
//   g. client_credentials;
//   h. client_secret_post;
//   i. RP-initiated logout (end_session_endpoint).
// The callback and post-logout URIs are served by a small HTTP server of the
// test on another loopback port (the relying party's web site).
//
// Every browser context runs with the platform's real Content-Security-Policy,
// as a person's Chromium does. Chromium (Safari too) applies `form-action` to
// every redirect that follows a form submission (w3c/webappsec-csp issue 8), so
// the login, consent and logout-confirmation pages allow the relying party's
// registered origin as a form target; the last group of tests pins those three
// journeys (RFC 6749 §4.1.2, OpenID Connect Core §3.1.2.5, RP-Initiated Logout
// §3).
//
// Environment:
//   MUTUALIS_BIN      the binary (default $HOME/.cache/mutualis-target/debug/mutualis)
//   MUTUALIS_CHROMIUM the browser (default /usr/bin/chromium)
//   CI=true           a missing prerequisite fails the run instead of skipping it.
//
// Run: npm ci && npm test   (from tests/interop/oidc)

import { after, afterEach, before, describe, test } from 'node:test';
import { Server, sleep } from '../lib/server.mjs';
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

const BIN = process.env.MUTUALIS_BIN
  || path.join(os.homedir(), '.cache', 'mutualis-target', 'debug', 'mutualis');
const CHROMIUM = process.env.MUTUALIS_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const IN_CI = /^(1|true|yes)$/i.test(process.env.CI || '');

const ALL_SCOPES = 'openid profile email phone address birth offline_access';
const INHABITANT = {
  email: 'camille.interop@example.org',
  password: 'une phrase de passe solide',
  givenName: 'Camille',
  familyName: 'Interop',
  commune: '69266', // Villeurbanne
};
const READY_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------- prerequisites

function missingPrerequisites() {
  const missing = [];
  const executable = (file, what) => {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      missing.push(`${what} not found or not executable at ${file}`);
    }
  };
  executable(BIN, 'mutualis binary (build it: cd /work/main && CARGO_TARGET_DIR=$HOME/.cache/mutualis-target cargo build; or set MUTUALIS_BIN)');
  executable(CHROMIUM, 'Chromium (apt-get install chromium; or set MUTUALIS_CHROMIUM)');
  for (const pkg of ['openid-client', 'playwright-core', 'axe-core']) {
    try {
      require.resolve(pkg);
    } catch {
      missing.push(`npm package ${pkg} not installed (run: npm ci in tests/interop/oidc)`);
    }
  }
  return missing;
}

const MISSING = missingPrerequisites();
let SKIP = false;
if (MISSING.length > 0) {
  const banner = '!'.repeat(78);
  if (IN_CI) {
    test('OpenID Connect interop prerequisites (CI=true: none may be missing)', () => {
      assert.fail(`missing prerequisites:\n  - ${MISSING.join('\n  - ')}`);
    });
  } else {
    SKIP = `SKIPPED, missing prerequisites: ${MISSING.join('; ')}`;
    console.error(`\n${banner}\n!! Mutualis OpenID Connect interop tests SKIPPED (CI is not set):\n!!   - ${MISSING.join('\n!!   - ')}\n${banner}\n`);
  }
}

// Loaded only when present, so that a missing package skips or fails cleanly.
const oidc = MISSING.length === 0 ? await import('openid-client') : null;

// ---------------------------------------------------------------- axe

// Every platform page the browser passes through (login, consent, logout
// confirmation, the account pages) is checked with axe-core, WCAG 2.0/2.1 A
// and AA, evaluated through the DevTools protocol so that the page's real CSP
// stays in force. Violations are collected and asserted after each test.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AXE_SOURCE = MISSING.length === 0 ? readFileSync(require.resolve('axe-core'), 'utf8') : '';
const axeFindings = [];
const axeChecked = new Set();

async function checkAxe(page, label) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
  }, AXE_TAGS);
  axeChecked.add(label);
  for (const v of violations) axeFindings.push(`${label} ${new URL(page.url()).pathname}: ${v}`);
}

function assertNoAxeFindings() {
  const found = axeFindings.splice(0);
  assert.deepEqual(found, [], `axe-core violations:\n${found.join('\n')}`);
}

// ---------------------------------------------------------------- the server

// ---------------------------------------------------------------- helpers

/**
 * The relying parties' web site: a small HTTP server on another loopback
 * port, which receives the browser at the redirect URIs (as a relying party's
 * web server would) and answers a plain page.
 */
class RelyingPartySite {
  static PATHS = ['/cb', '/apres-deconnexion'];

  constructor() {
    this.waiters = [];
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url, this.origin);
      if (req.method === 'GET' && RelyingPartySite.PATHS.includes(url.pathname)) {
        for (const w of this.waiters.splice(0)) w(url.href);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('relying party reached');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('not found');
      }
    });
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.origin = `http://127.0.0.1:${this.server.address().port}`;
  }

  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  uri(p) {
    return `${this.origin}${p}`;
  }

  /** Resolves with the URL of the next request at a redirect URI. */
  nextArrival() {
    return new Promise((resolve) => { this.waiters.push(resolve); });
  }
}

/** Collects what the browser says about a page: CSP violations above all. */
function watchConsole(page) {
  const messages = [];
  page.on('console', (m) => messages.push(`[console ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => messages.push(`[page error] ${e.message}`));
  return messages;
}

async function pageSummary(page) {
  let text = '';
  try {
    text = (await page.locator('main').innerText({ timeout: 2000 })).replace(/\s+/g, ' ').slice(0, 600);
  } catch {
    try { text = (await page.content()).slice(0, 600); } catch { /* closed */ }
  }
  return `${page.url()}\n    page text: ${text}`;
}

/**
 * Walks the browser from `startUrl` until it reaches the relying party:
 * fills the login form, ticks every claim and allows on the consent screen,
 * confirms a logout. Returns the URL the relying party received and the
 * platform steps the browser went through.
 */
async function browse(context, startUrl, { what, allowSteps = ['login', 'consent', 'logout-confirm'] } = {}) {
  const page = await context.newPage();
  const consoleMessages = watchConsole(page);
  const arrivedPromise = rp.nextArrival();
  let arrived = null;
  arrivedPromise.then((u) => { arrived = u; });
  const steps = [];
  const fail = async (why) => {
    assert.fail(`${what}: ${why}\n  steps so far: ${steps.join(' → ') || '(none)'}\n  browser at: ${await pageSummary(page)}`
      + `${consoleMessages.length ? `\n  browser console:\n    ${consoleMessages.join('\n    ')}` : ''}`
      + `\n  server's last requests:\n    ${server.requests(8).join('\n    ')}`);
  };
  // Clicks, then waits until the browser reaches the relying party or loads
  // another platform page; fails at once on a Content-Security-Policy
  // violation (the browser then stays on the page).
  const act = async (step, click) => {
    steps.push(step);
    const before = page.url();
    const seen = consoleMessages.length;
    await click();
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (!arrived && Date.now() < deadline) {
      if (page.url() !== before) {
        if (page.url().startsWith('chrome-error:')) {
          await Promise.race([arrivedPromise, sleep(1000)]);
          if (!arrived) await fail(`after the step "${step}" the browser shows a network error page`);
        } else if (page.url().startsWith(rp.origin)) await Promise.race([arrivedPromise, sleep(2000)]);
        else await page.waitForLoadState('load').catch(() => {});
        return;
      }
      if (consoleMessages.slice(seen).some((m) => /Content Security Policy/i.test(m))) {
        await sleep(300); // let a concurrent navigation (if any) show itself
        if (arrived || page.url() !== before) continue;
        await fail(`after the step "${step}" the browser refused to follow the platform's answer (Content-Security-Policy)`);
      }
      await sleep(50);
    }
    if (!arrived) await fail(`the browser did not leave the page within ${STEP_TIMEOUT_MS} ms after the step "${step}"`);
  };
  try {
    await page.goto(startUrl, { waitUntil: 'load' }).catch((e) => {
      if (!arrived) throw e;
    });
    for (let i = 0; i < 6 && !arrived; i += 1) {
      const login = page.locator('form[action="/connexion"]');
      const consent = page.locator('form[action="/oidc/consent"]');
      const logoutForm = page.locator('main form[action="/oidc/logout"]');
      if (allowSteps.includes('login') && await login.count() > 0 && await login.locator('input[name="password"]').count() > 0) {
        await checkAxe(page, 'login page');
        await login.locator('input[name="email"]').fill(INHABITANT.email);
        await login.locator('input[name="password"]').fill(INHABITANT.password);
        await act('login', () => login.locator('button[type="submit"]').click());
      } else if (allowSteps.includes('consent') && await consent.count() > 0) {
        await checkAxe(page, 'consent page');
        // Tick every claim offered (they come ticked; make sure).
        const boxes = consent.locator('input[type="checkbox"][name="claims"]');
        for (let k = 0; k < await boxes.count(); k += 1) await boxes.nth(k).check();
        await act('consent', () => consent.locator('button[name="decision"][value="allow"]').click());
      } else if (allowSteps.includes('logout-confirm') && await logoutForm.count() > 0) {
        await checkAxe(page, 'logout confirmation page');
        await act('logout-confirm', () => logoutForm.locator('button[type="submit"]').click());
      } else {
        await fail('the browser is stuck on a page with nothing to do (expected the relying party)');
      }
    }
    if (!arrived) {
      // Give a last in-flight redirect its chance.
      await Promise.race([arrivedPromise, sleep(2000)]);
    }
    if (!arrived) {
      await fail('the browser never reached the relying party at ' + rp.origin);
    }
    return { url: new URL(arrived), steps };
  } finally {
    await page.close().catch(() => {});
  }
}

/** Logs in on the platform itself (not through a relying party). */
async function platformLogin(context, server) {
  const page = await context.newPage();
  try {
    await page.goto(`${server.base}/connexion`);
    const form = page.locator('form[action="/connexion"]');
    await form.locator('input[name="email"]').fill(INHABITANT.email);
    await form.locator('input[name="password"]').fill(INHABITANT.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/connexion', { timeout: STEP_TIMEOUT_MS }),
      form.locator('button[type="submit"]').click(),
    ]);
  } finally {
    await page.close();
  }
}

/** Status and Location of GET `p` on the platform with the context's cookies. */
async function platformGet(context, server, p) {
  const res = await context.request.get(`${server.base}${p}`, { maxRedirects: 0 });
  return { status: res.status(), location: res.headers().location || null };
}

function decodeJwtPart(jwt, index) {
  return JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString('utf8'));
}

async function rejectsWith(promise, error, message) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.error, error, `${message}: expected OAuth error ${error}, got ${e.name}: ${e.error || ''} ${e.message}`);
    return true;
  }, message);
}

// ---------------------------------------------------------------- the tests

const DESCRIBE_SKIP = MISSING.length === 0 ? false : (SKIP || 'missing prerequisites: see the failing test above');

const server = new Server({ bin: BIN, prefix: 'mutualis-oidc-', readyTimeoutMs: READY_TIMEOUT_MS });
let rp; // the relying parties' web site (set in before())

describe('Mutualis as an OpenID Provider, driven by openid-client in headless Chromium', { skip: DESCRIBE_SKIP, timeout: 15 * 60_000 }, () => {
  let browser;
  const clients = {};
  const contexts = [];

  const onExit = () => {
    server.killNow('SIGKILL');
    server.removeDataDir();
  };
  const onSignal = (sig) => {
    onExit();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  const execute = () => [oidc.allowInsecureRequests]; // http:// issuer on loopback

  /** openid-client's configuration for one of our registered clients. */
  const configFor = (name, { auth = 'basic' } = {}) => {
    const c = clients[name];
    const metadata = {};
    let clientAuth;
    if (c.client_secret === null) {
      clientAuth = oidc.None();
    } else if (auth === 'post') {
      metadata.client_secret = c.client_secret;
      clientAuth = oidc.ClientSecretPost(c.client_secret);
    } else {
      metadata.client_secret = c.client_secret;
      clientAuth = oidc.ClientSecretBasic(c.client_secret);
    }
    if (c.alg) metadata.id_token_signed_response_alg = c.alg;
    return oidc.discovery(new URL(server.base), c.client_id, metadata, clientAuth, { execute: execute() });
  };

  const newContext = async () => {
    const context = await browser.newContext({ locale: 'fr-FR' });
    contexts.push(context);
    return context;
  };

  /**
   * The authorization code flow as openid-client does it: PKCE S256, state,
   * nonce; the browser part in `context`; the code exchanged and the ID token
   * validated by the library.
   */
  const codeFlow = async (context, config, { redirectUri, scope, what }) => {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const codeChallenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      state,
      nonce,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
    });
    const { url: callback, steps } = await browse(context, url.href, { what });
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUri, `${what}: the browser came back to another URI`);
    assert.equal(callback.searchParams.get('error'), null,
      `${what}: the authorization response is an error: ${callback.searchParams.get('error')} ${callback.searchParams.get('error_description') || ''}`);
    assert.equal(callback.searchParams.get('state'), state, `${what}: state not returned`);
    assert.equal(callback.searchParams.get('iss'), server.base, `${what}: RFC 9207 iss missing or wrong in the authorization response`);
    assert.ok(callback.searchParams.get('code'), `${what}: no code in the authorization response`);
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    return { tokens, steps, nonce, callback };
  };

  before(async () => {
    process.on('exit', onExit);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    await server.prepare();
    rp = new RelyingPartySite();
    await rp.start();

    // The relying parties, registered before the server starts.
    const create = (name, extra) => {
      const out = server.cli(['client', 'create', '--name', name, '--json', ...extra]);
      const created = JSON.parse(out);
      assert.ok(created.client_id, `client create printed no client_id: ${out}`);
      return created;
    };
    const confidential = (name) => create(name, [
      '--redirect-uri', rp.uri('/cb'),
      '--post-logout-redirect-uri', rp.uri('/apres-deconnexion'),
      '--scope', ALL_SCOPES,
    ]);
    clients.basic = confidential('Interop client_secret_basic');
    clients.post = confidential('Interop client_secret_post');
    clients.strict = confidential('Interop CSP in force');
    clients.es256 = { ...create('Interop ES256', ['--redirect-uri', rp.uri('/cb'), '--scope', ALL_SCOPES, '--id-token-alg', 'ES256']), alg: 'ES256' };
    clients.public = create('Interop public', ['--redirect-uri', rp.uri('/cb'), '--scope', ALL_SCOPES, '--public']);
    assert.equal(clients.public.client_secret, null, 'a public client must have no secret');
    for (const name of ['basic', 'post', 'strict', 'es256']) {
      assert.equal(typeof clients[name].client_secret, 'string', `client ${name} must have a secret`);
    }

    await server.start();

    // The inhabitant (after the start: --demo brings the communes).
    server.cli(['user', 'create', '--email', INHABITANT.email, '--password-stdin',
      '--given-name', INHABITANT.givenName, '--family-name', INHABITANT.familyName,
      '--commune', INHABITANT.commune, '--verified'], INHABITANT.password);

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, { timeout: 180_000 });

  afterEach(() => assertNoAxeFindings());

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      if (browser) await browser.close();
    } finally {
      await server.stop();
      if (rp?.origin) await rp.stop();
      process.off('exit', onExit);
    }
  });

  // One inhabitant's browser for the protocol tests: signed in once (a), then
  // single sign-on for the following flows.
  let inhabitantBrowser;
  const protocolBrowser = async () => {
    if (!inhabitantBrowser) inhabitantBrowser = await newContext();
    return inhabitantBrowser;
  };

  test('a. discovery: issuer, jwks_uri, S256, pairwise, RFC 9207 iss', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('basic');
    const m = config.serverMetadata();
    assert.equal(m.issuer, server.base);
    assert.equal(m.jwks_uri, `${server.base}/oidc/jwks`);
    assert.equal(m.authorization_endpoint, `${server.base}/oidc/authorize`);
    assert.equal(m.token_endpoint, `${server.base}/oidc/token`);
    assert.ok(m.userinfo_endpoint && m.revocation_endpoint && m.introspection_endpoint && m.end_session_endpoint,
      `userinfo, revocation, introspection and end-session endpoints must be announced: ${JSON.stringify(m)}`);
    assert.ok(m.code_challenge_methods_supported?.includes('S256'), 'S256 must be supported');
    assert.ok(m.subject_types_supported?.includes('pairwise'), 'pairwise subjects must be announced');
    assert.equal(m.authorization_response_iss_parameter_supported, true, 'RFC 9207 must be announced');
    assert.ok(m.response_types_supported?.includes('code'));
    assert.ok(m.id_token_signing_alg_values_supported?.includes('RS256'));
    assert.ok(m.id_token_signing_alg_values_supported?.includes('ES256'));
    for (const method of ['client_secret_basic', 'client_secret_post', 'none']) {
      assert.ok(m.token_endpoint_auth_methods_supported?.includes(method), `token endpoint auth ${method} must be announced`);
    }
    const jwks = await (await fetch(m.jwks_uri)).json();
    const kty = new Set(jwks.keys.map((k) => k.kty));
    assert.ok(kty.has('RSA') && kty.has('EC'), `the JWKS should hold an RSA and an EC key: ${JSON.stringify(jwks)}`);
    for (const k of jwks.keys) {
      assert.ok(k.kid, 'every JWK has a kid');
      assert.equal(k.d, undefined, 'no private part in the JWKS');
    }
  });

  let first; // the tokens of (b), for the following tests

  test('b. confidential client (client_secret_basic): code + PKCE + state + nonce through login and consent; ID token and userinfo', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('basic');
    const context = await protocolBrowser();
    const { tokens, steps, nonce } = await codeFlow(context, config, {
      redirectUri: rp.uri('/cb'), scope: 'openid profile email offline_access', what: 'first sign-in (basic)',
    });
    assert.deepEqual(steps, ['login', 'consent'], 'a first sign-in goes through the login form then the consent screen');
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token && tokens.id_token && tokens.refresh_token, 'access, ID and refresh tokens expected');
    const claims = tokens.claims();
    assert.equal(claims.iss, server.base);
    assert.equal(claims.aud === clients.basic.client_id || (Array.isArray(claims.aud) && claims.aud.includes(clients.basic.client_id)), true, 'aud');
    assert.equal(claims.nonce, nonce);
    assert.ok(claims.sub, 'sub');
    assert.equal(decodeJwtPart(tokens.id_token, 0).alg, 'RS256', 'ID tokens are RS256 by default');

    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.email, INHABITANT.email);
    assert.equal(info.email_verified, true);
    assert.equal(info.given_name, INHABITANT.givenName);
    assert.equal(info.family_name, INHABITANT.familyName);
    assert.equal(info.phone_number, undefined, 'no claim of a scope that was not asked for');
    first = { tokens, claims };

    // Single sign-on and remembered consent: a second flow goes straight back.
    const again = await codeFlow(context, config, {
      redirectUri: rp.uri('/cb'), scope: 'openid profile email', what: 'second sign-in (basic)',
    });
    assert.deepEqual(again.steps, [], 'a second sign-in asks nothing (session and consent remembered)');
    assert.equal(again.tokens.claims().sub, claims.sub, 'the same subject for the same client');
  });

  test('c. refresh with rotation: the old refresh token is single-use and its reuse revokes the family', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('basic');
    const { tokens } = await codeFlow(await protocolBrowser(), config, {
      redirectUri: rp.uri('/cb'), scope: 'openid profile email offline_access', what: 'sign-in for refresh',
    });
    const sub = tokens.claims().sub;
    const old = tokens.refresh_token;
    assert.ok(old, 'a refresh token was issued');

    const refreshed = await oidc.refreshTokenGrant(config, old);
    assert.ok(refreshed.access_token, 'a new access token');
    assert.ok(refreshed.refresh_token, 'a new refresh token (rotation)');
    assert.notEqual(refreshed.refresh_token, old, 'the refresh token rotates');
    assert.notEqual(refreshed.access_token, tokens.access_token);
    if (refreshed.id_token) {
      const c = refreshed.claims();
      assert.equal(c.sub, sub, 'a refreshed ID token keeps the subject (OIDC Core 12.2)');
      assert.equal(c.iss, server.base);
    }
    const info = await oidc.fetchUserInfo(config, refreshed.access_token, sub);
    assert.equal(info.email, INHABITANT.email, 'the refreshed access token works at userinfo');

    await rejectsWith(oidc.refreshTokenGrant(config, old), 'invalid_grant', 'reusing the old refresh token');
    await rejectsWith(oidc.refreshTokenGrant(config, refreshed.refresh_token), 'invalid_grant',
      'after a reuse, the newest refresh token of the family is revoked too');
  });

  test('d. introspection of a live access token, revocation, then introspection says inactive', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('basic');
    const { tokens } = await codeFlow(await protocolBrowser(), config, {
      redirectUri: rp.uri('/cb'), scope: 'openid email offline_access', what: 'sign-in for revocation',
    });
    const sub = tokens.claims().sub;

    const live = await oidc.tokenIntrospection(config, tokens.access_token);
    assert.equal(live.active, true, `a live access token is active: ${JSON.stringify(live)}`);
    assert.equal(live.client_id, clients.basic.client_id);
    assert.equal(live.sub, sub);
    if (live.iss !== undefined) assert.equal(live.iss, server.base);
    assert.ok(typeof live.exp === 'number' && live.exp * 1000 > Date.now(), 'exp in the future');

    await oidc.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
    const dead = await oidc.tokenIntrospection(config, tokens.access_token);
    assert.equal(dead.active, false, `a revoked access token is inactive: ${JSON.stringify(dead)}`);
    await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, sub), 'userinfo refuses a revoked access token');

    // The refresh token too.
    const liveRefresh = await oidc.tokenIntrospection(config, tokens.refresh_token);
    assert.equal(liveRefresh.active, true, `a live refresh token is active: ${JSON.stringify(liveRefresh)}`);
    await oidc.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
    const deadRefresh = await oidc.tokenIntrospection(config, tokens.refresh_token);
    assert.equal(deadRefresh.active, false, 'a revoked refresh token is inactive');
    await rejectsWith(oidc.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant', 'a revoked refresh token');

    // RFC 7009 §2.2: an unknown token is not an error.
    await oidc.tokenRevocation(config, 'not-a-token-of-this-server');
    const unknown = await oidc.tokenIntrospection(config, 'not-a-token-of-this-server');
    assert.equal(unknown.active, false);
  });

  test('e. public client: code + PKCE with token_endpoint_auth_method none; pairwise subject', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('public');
    const { tokens, steps } = await codeFlow(await protocolBrowser(), config, {
      redirectUri: rp.uri('/cb'), scope: 'openid email', what: 'public client sign-in',
    });
    assert.deepEqual(steps, ['consent'], 'signed in already: only the consent screen of this new client');
    assert.ok(tokens.access_token && tokens.id_token);
    const claims = tokens.claims();
    assert.equal(claims.aud === clients.public.client_id || claims.aud?.includes?.(clients.public.client_id), true);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, INHABITANT.email);
    assert.ok(first, 'test b must have run');
    assert.notEqual(claims.sub, first.claims.sub, 'pairwise: another client sees another subject for the same person');
  });

  test('f. a client with ES256 ID tokens: the ID token validates', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('es256');
    const { tokens } = await codeFlow(await protocolBrowser(), config, {
      redirectUri: rp.uri('/cb'), scope: 'openid profile', what: 'ES256 client sign-in',
    });
    const header = decodeJwtPart(tokens.id_token, 0);
    assert.equal(header.alg, 'ES256');
    const jwks = await (await fetch(config.serverMetadata().jwks_uri)).json();
    const key = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(key, `the ID token's kid ${header.kid} is in the JWKS`);
    assert.equal(key.kty, 'EC');
    assert.equal(key.crv, 'P-256');
    const claims = tokens.claims();
    assert.equal(claims.iss, server.base);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.given_name, INHABITANT.givenName);
  });

  test('g. client_credentials for a confidential client (and refused to a public one)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('basic');
    const tokens = await oidc.clientCredentialsGrant(config);
    assert.ok(tokens.access_token, 'an access token');
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.id_token, undefined, 'no ID token without a user');
    assert.equal(tokens.refresh_token, undefined, 'no refresh token for client_credentials (RFC 6749 §4.4.3)');
    const info = await oidc.tokenIntrospection(config, tokens.access_token);
    assert.equal(info.active, true, `the client's token is active: ${JSON.stringify(info)}`);
    assert.equal(info.client_id, clients.basic.client_id);

    const publicConfig = await configFor('public');
    await rejectsWith(oidc.clientCredentialsGrant(publicConfig), 'unauthorized_client',
      'client_credentials for a public client (RFC 6749 §4.4: confidential clients only)');
  });

  test('h. client_secret_post works too (token, introspection, revocation)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('post', { auth: 'post' });
    const { tokens } = await codeFlow(await protocolBrowser(), config, {
      redirectUri: rp.uri('/cb'), scope: 'openid email offline_access', what: 'client_secret_post sign-in',
    });
    const claims = tokens.claims();
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, INHABITANT.email);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);
    const live = await oidc.tokenIntrospection(config, refreshed.access_token);
    assert.equal(live.active, true);
    await oidc.tokenRevocation(config, refreshed.access_token);
    assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, false);
    const cc = await oidc.clientCredentialsGrant(config);
    assert.ok(cc.access_token);
  });

  test('i. RP-initiated logout: end_session_endpoint with id_token_hint, post_logout_redirect_uri and state', { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = await configFor('basic');
    assert.ok(config.serverMetadata().end_session_endpoint, 'end_session_endpoint announced');
    const context = await newContext(); // a browser of its own: this test ends its session
    const { tokens, steps } = await codeFlow(context, config, {
      redirectUri: rp.uri('/cb'), scope: 'openid email', what: 'sign-in before logout',
    });
    assert.deepEqual(steps, ['login'], 'consent remembered from test b: only the login form');
    assert.equal((await platformGet(context, server, '/compte')).status, 200, 'signed in: /compte is shown');

    const state = oidc.randomState();
    const postLogout = rp.uri('/apres-deconnexion');
    const endSession = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: postLogout,
      state,
    });
    const { url: back } = await browse(context, endSession.href, { what: 'RP-initiated logout', allowSteps: ['logout-confirm'] });
    assert.equal(`${back.origin}${back.pathname}`, postLogout, 'back at the post-logout redirect URI');
    assert.equal(back.searchParams.get('state'), state, 'with the state');

    const after = await platformGet(context, server, '/compte');
    assert.equal(after.status, 303, `after logout /compte must redirect (got HTTP ${after.status})`);
    assert.match(after.location || '', /^(https?:\/\/[^/]+)?\/connexion/, `after logout /compte must redirect to /connexion, not ${after.location}`);

    // A new authorization request asks for the login form again.
    const again = oidc.buildAuthorizationUrl(config, {
      redirect_uri: rp.uri('/cb'), scope: 'openid', state: oidc.randomState(), nonce: oidc.randomNonce(),
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const page = await context.newPage();
    try {
      await page.goto(again.href);
      assert.equal(new URL(page.url()).pathname, '/connexion', 'after logout, a new authorization asks for the login form');
    } finally {
      await page.close();
    }
  });

  describe('the same journeys with the platform\'s Content-Security-Policy in force (a person\'s browser)', () => {
    test('first sign-in: login form, consent form, then the browser reaches the relying party', { timeout: TEST_TIMEOUT_MS }, async () => {
      const config = await configFor('strict');
      const context = await newContext();
      const { tokens, steps } = await codeFlow(context, config, {
        redirectUri: rp.uri('/cb'), scope: 'openid profile email', what: 'first sign-in with CSP in force',
      });
      assert.deepEqual(steps, ['login', 'consent']);
      assert.ok(tokens.id_token);
    });

    test('sign-in to a service already consented: the login form\'s answer leads to the relying party', { timeout: TEST_TIMEOUT_MS }, async () => {
      const config = await configFor('basic');
      // Consent for this client is recorded by test b (server side, per person).
      const context = await newContext();
      const { tokens, steps } = await codeFlow(context, config, {
        redirectUri: rp.uri('/cb'), scope: 'openid email', what: 'sign-in (consent remembered) with CSP in force',
      });
      assert.deepEqual(steps, ['login']);
      assert.ok(tokens.id_token);
    });

    test('logout confirmation form (no id_token_hint): the browser reaches the post-logout redirect URI', { timeout: TEST_TIMEOUT_MS }, async () => {
      const config = await configFor('basic');
      const context = await newContext();
      await platformLogin(context, server);
      assert.equal((await platformGet(context, server, '/compte')).status, 200, 'signed in: /compte is shown');
      const state = oidc.randomState();
      const postLogout = rp.uri('/apres-deconnexion');
      // Without id_token_hint, client_id names the client (RP-Initiated Logout 1.0 §2).
      const endSession = oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: postLogout, state });
      assert.equal(endSession.searchParams.get('client_id'), clients.basic.client_id);
      const { url: back, steps } = await browse(context, endSession.href, { what: 'logout confirmation with CSP in force', allowSteps: ['logout-confirm'] });
      assert.deepEqual(steps, ['logout-confirm'], 'without a hint, the person confirms');
      assert.equal(`${back.origin}${back.pathname}`, postLogout);
      assert.equal(back.searchParams.get('state'), state);
      const after = await platformGet(context, server, '/compte');
      assert.equal(after.status, 303, 'signed out');
    });
  });
  test('accessibility: the pages of the journeys and the account pages with consents pass axe-core', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const label of ['login page', 'consent page', 'logout confirmation page']) {
      assert.ok(axeChecked.has(label), `the ${label} was never checked with axe (journeys changed?)`);
    }
    const context = await newContext();
    await platformLogin(context, server);
    const page = await context.newPage();
    try {
      for (const p of ['/compte', '/compte/identite', '/compte/consentements', '/compte/donnees']) {
        const res = await page.goto(`${server.base}${p}`);
        assert.equal(res.status(), 200, `${p} answers 200`);
        await checkAxe(page, `account page ${p}`);
      }
      // The consents page lists what the journeys above granted.
      assert.ok(await page.goto(`${server.base}/compte/consentements`) && await page.locator('table').count() > 0,
        'the consents page shows a table of consents');
    } finally {
      await page.close();
    }
  });
});
