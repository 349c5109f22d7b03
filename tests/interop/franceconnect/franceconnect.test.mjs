// Mutualis as a FranceConnect v2 relying party (ID-5, ID-6), tested in
// headless Chromium against `oidc-provider` configured as FranceConnect
// (fc.mjs: /api/v2 endpoints, ES256 ID tokens and signed userinfo, eidas1,
// the pivot identity, end_session without confirmation, fault injection).
//
// Journeys: the button on the login page; an account created from a
// FranceConnect identity, its certified fields read-only; the logout chain
// through FranceConnect; a linked identity signing in directly; a link to an
// existing account with its password; a second link refused; unlinking
// (setting a password in the same step); FranceConnect's key rotation. And
// the refusals — wrong state, replayed callback, wrong iss, forged ID token,
// expired ID token, userinfo with a bad signature — each a French error
// page, no session, nothing linked. Every platform page met is checked with
// axe-core (WCAG 2.0/2.1 A and AA).
//
// Environment: MUTUALIS_BIN, MUTUALIS_CHROMIUM, CI (as tests/interop/oidc).
// Run: npm ci && npm test   (from tests/interop/franceconnect)

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { Server, freePort, sleep } from '../lib/server.mjs';

const require = createRequire(import.meta.url);

const BIN = process.env.MUTUALIS_BIN
  || path.join(os.homedir(), '.cache', 'mutualis-target', 'debug', 'mutualis');
const CHROMIUM = process.env.MUTUALIS_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const IN_CI = /^(1|true|yes)$/i.test(process.env.CI || '');
const STEP_TIMEOUT_MS = 15_000;

// FranceConnect's identities (its demo data is of this shape).
const IDENTITIES = {
  'fc-angela': {
    given_name: 'Angela Claire Louise', family_name: 'DUBOIS', birthdate: '1962-08-24', gender: 'female',
    birthplace: '75107', birthcountry: '99100', email: 'angela.dubois@example.fr',
  },
  'fc-pierre': {
    given_name: 'Pierre', family_name: 'MERCIER', birthdate: '1990-01-12', gender: 'male',
    birthplace: '', birthcountry: '99134', email: 'pierre.mercier@example.fr',
  },
  'fc-nadia': {
    given_name: 'Nadia', family_name: 'BENALI', birthdate: '1985-03-02', gender: 'female',
    birthplace: '69123', birthcountry: '99100', email: 'nadia.benali@example.fr',
  },
  'fc-luc': {
    given_name: 'Luc', family_name: 'MARTIN', birthdate: '1970-05-30', gender: 'male',
    birthplace: '69266', birthcountry: '99100', email: 'luc.martin@example.fr',
  },
};
// An inhabitant with a password account, who links it to FranceConnect.
const INHABITANT = { email: 'nadia.compte@example.org', password: 'une phrase de passe solide' };

// ---------------------------------------------------------------- prerequisites

function missingPrerequisites() {
  const missing = [];
  for (const [file, what] of [[BIN, 'mutualis binary (cargo build; or set MUTUALIS_BIN)'],
    [CHROMIUM, 'Chromium (apt-get install chromium; or set MUTUALIS_CHROMIUM)']]) {
    try { accessSync(file, constants.X_OK); } catch { missing.push(`${what} not found at ${file}`); }
  }
  for (const pkg of ['oidc-provider', 'jose', 'playwright-core', 'axe-core']) {
    try { require.resolve(pkg); } catch { missing.push(`npm package ${pkg} (npm ci in tests/interop/franceconnect)`); }
  }
  return missing;
}

const MISSING = missingPrerequisites();
if (MISSING.length > 0) {
  if (IN_CI) {
    test('FranceConnect interop prerequisites (CI=true: none may be missing)', () => {
      assert.fail(`missing prerequisites:\n  - ${MISSING.join('\n  - ')}`);
    });
  } else {
    const banner = '!'.repeat(78);
    console.error(`\n${banner}\n!! FranceConnect interop tests SKIPPED (CI is not set):\n!!   - ${MISSING.join('\n!!   - ')}\n${banner}\n`);
  }
}
const { startFranceConnect } = MISSING.length === 0 ? await import('./fc.mjs') : {};
const { chromium } = MISSING.length === 0 ? await import('playwright-core') : {};
const jose = MISSING.length === 0 ? await import('jose') : null;

// ---------------------------------------------------------------- axe

const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AXE_SOURCE = MISSING.length === 0 ? readFileSync(require.resolve('axe-core'), 'utf8') : '';
const axeFindings = [];

async function checkAxe(page, label) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  }, AXE_TAGS);
  for (const v of violations) axeFindings.push(`${label} (${new URL(page.url()).pathname}): ${v}`);
}

// ---------------------------------------------------------------- set-up

const CLIENT = { client_id: 'mutualis-fs', client_secret: 'secret-de-test-franceconnect-0123456789' };
let fc;
let server;
let browser;

/** A fresh browser (no cookies) with one page. */
async function freshPage() {
  const context = await browser.newContext({ locale: 'fr-FR' });
  const page = await context.newPage();
  return { context, page };
}

/** Clicks the FranceConnect button of the login page; FranceConnect signs in `sub`. */
async function franceConnect(page, sub, { checkPage = false } = {}) {
  fc.setAutoLogin(sub);
  await page.goto(`${server.base}/connexion`);
  if (checkPage) await checkAxe(page, 'login page with the FranceConnect button');
  await Promise.all([
    page.waitForURL((u) => u.origin === server.base && u.pathname !== '/connexion', { timeout: STEP_TIMEOUT_MS }),
    page.locator('form[action="/franceconnect/connexion"] button').click(),
  ]);
}

async function signedIn(context) {
  const res = await context.request.get(`${server.base}/compte`, { maxRedirects: 0 });
  return res.status() === 200;
}

/** The refusal page: French, an error heading, nothing signed in. */
async function assertRefused(page, context, response, what) {
  assert.ok(response, `${what}: no response`);
  assert.equal(response.status(), 400, `${what}: status ${response.status()} at ${page.url()}`);
  assert.equal(await page.getAttribute('html', 'lang'), 'fr', what);
  const text = await page.locator('main').innerText();
  assert.match(text, /Aucun compte n'a été relié ni créé/, `${what}: ${text}`);
  await checkAxe(page, `refusal page (${what})`);
  assert.equal(await signedIn(context), false, `${what}: a session was opened`);
}

/** The identity `sub` is linked to no account: FranceConnect leads to the link page. */
async function assertNotLinked(sub, what) {
  const { context, page } = await freshPage();
  try {
    await franceConnect(page, sub);
    assert.equal(new URL(page.url()).pathname, '/franceconnect/rattachement', `${what}: ${page.url()}`);
  } finally {
    await context.close();
  }
}

const SKIP = MISSING.length === 0 ? false : 'missing prerequisites';

describe('Mutualis as a FranceConnect relying party, in headless Chromium', { skip: SKIP, timeout: 10 * 60_000 }, () => {
  before(async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    fc = await startFranceConnect({
      port: 0,
      clients: [{
        ...CLIENT,
        redirect_uris: [`${base}/franceconnect/retour`],
        post_logout_redirect_uris: [`${base}/franceconnect/deconnexion`],
      }],
      identities: IDENTITIES,
    });
    server = new Server({
      bin: BIN,
      prefix: 'mutualis-fc-',
      extraArgs: (s) => {
        const secret = path.join(s.dataDir, 'franceconnect.secret');
        writeFileSync(secret, CLIENT.client_secret);
        return ['--franceconnect-issuer', fc.issuer, '--franceconnect-client-id', CLIENT.client_id,
          '--franceconnect-client-secret-file', secret, '--franceconnect-environment', 'integration'];
      },
    });
    await server.prepare();
    server.port = port;
    server.base = base;
    await server.start();
    server.cli(['user', 'create', '--email', INHABITANT.email, '--password-stdin', '--verified'], INHABITANT.password);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await fc?.stop();
  });

  afterEach(() => {
    fc.setFault(null);
    const found = axeFindings.splice(0);
    assert.deepEqual(found, [], `axe-core violations:\n${found.join('\n')}`);
  });

  test('an account is created from a FranceConnect identity; its certified fields are read-only (ID-5, ID-6)', async () => {
    const { context, page } = await freshPage();
    try {
      await franceConnect(page, 'fc-angela', { checkPage: true });
      assert.equal(new URL(page.url()).pathname, '/franceconnect/rattachement');
      await checkAxe(page, 'link or create page');
      assert.match(await page.locator('main').innerText(), /Angela Claire Louise DUBOIS/);
      const create = page.locator('form[action="/franceconnect/rattachement/nouveau-compte"]');
      assert.equal(await create.locator('input[name="email"]').inputValue(), IDENTITIES['fc-angela'].email);
      await Promise.all([page.waitForURL((u) => u.pathname === '/', { timeout: STEP_TIMEOUT_MS }),
        create.locator('button').click()]);
      assert.equal(await signedIn(context), true, 'signed in after the creation');

      await page.goto(`${server.base}/compte/identite`);
      await checkAxe(page, 'identity sheet (certified)');
      for (const [field, value] of [['given_names', 'Angela Claire Louise'], ['family_name', 'DUBOIS'],
        ['birthdate', '1962-08-24'], ['birthplace', '75107'], ['birthcountry', '99100']]) {
        const input = page.locator(`#${field}`);
        assert.equal(await input.inputValue(), value, field);
        assert.equal(await input.getAttribute('readonly'), '', `${field} is read-only`);
        assert.match(await page.locator(`#src-${field}`).innerText(), /Certifié par FranceConnect, le \d{4}-\d{2}-\d{2}/, field);
      }
      // Places by name, from their INSEE codes.
      assert.match(await page.locator('#src-birthplace').innerText(), /^Paris 7e Arrondissement — Certifié/);
      assert.match(await page.locator('#src-birthcountry').innerText(), /^France — Certifié/);
      assert.match(await page.locator('#titre-franceconnect + p, section[aria-labelledby="titre-franceconnect"]').first().innerText(),
        /Identité certifiée par FranceConnect/);
      // A certified field sent anyway is not changed.
      const res = await context.request.post(`${server.base}/compte/identite`, {
        form: { csrf_token: await page.locator('input[name="csrf_token"]').first().inputValue(), family_name: 'AUTRE', phone: '0472000000' },
        headers: { origin: server.base },
      });
      assert.ok(res.status() < 400, `saving the sheet: ${res.status()}`);
      await page.goto(`${server.base}/compte/identite`);
      assert.equal(await page.locator('#family_name').inputValue(), 'DUBOIS');
      assert.equal(await page.locator('#phone').inputValue(), '0472000000');
    } finally {
      await context.close();
    }
  });

  test('logout goes through FranceConnect and back; the linked identity then signs in directly (ID-5)', async () => {
    const { context, page } = await freshPage();
    try {
      await franceConnect(page, 'fc-angela');
      assert.equal(new URL(page.url()).pathname, '/', 'a linked identity signs in without the link page');
      assert.equal(await signedIn(context), true);
      const before = fc.logins.length;
      await page.goto(`${server.base}/compte`);
      await Promise.all([
        page.waitForURL((u) => u.pathname === '/franceconnect/deconnexion', { timeout: STEP_TIMEOUT_MS }),
        page.locator('form[action="/deconnexion"] button').click(),
      ]);
      assert.match(await page.locator('main').innerText(), /Votre session Mutualis et votre session FranceConnect sont terminées/);
      await checkAxe(page, 'logout page');
      assert.equal(await signedIn(context), false, 'the platform session ended');
      assert.equal(fc.logins.length, before, 'no new FranceConnect login on the way');
    } finally {
      await context.close();
    }
  });

  test('an existing account is linked with its password, and one identity links to one account only (ID-5)', async () => {
    const { context, page } = await freshPage();
    try {
      await franceConnect(page, 'fc-nadia');
      const existing = page.locator('form[action="/franceconnect/rattachement/compte-existant"]');
      // A wrong password links nothing.
      await existing.locator('input[name="email"]').fill(INHABITANT.email);
      await existing.locator('input[name="password"]').fill('pas le bon mot de passe');
      await existing.locator('button').click();
      await page.waitForLoadState('load');
      assert.match(await page.locator('[role="alert"]').innerText(), /incorrect/);
      await checkAxe(page, 'link page with an error');
      // The failure counts in the login back-off (ID-1): 1 s before a retry.
      await sleep(1100);
      await existing.locator('input[name="email"]').fill(INHABITANT.email);
      await existing.locator('input[name="password"]').fill(INHABITANT.password);
      await Promise.all([page.waitForURL((u) => u.pathname === '/', { timeout: STEP_TIMEOUT_MS }),
        existing.locator('button').click()]);
      await page.goto(`${server.base}/compte/identite`);
      assert.equal(await page.locator('#given_names').inputValue(), 'Nadia');
      assert.equal(await page.locator('#given_names').getAttribute('readonly'), '');
    } finally {
      await context.close();
    }
    // Another identity cannot be linked to the same account.
    const second = await freshPage();
    try {
      await franceConnect(second.page, 'fc-luc');
      const existing = second.page.locator('form[action="/franceconnect/rattachement/compte-existant"]');
      await existing.locator('input[name="email"]').fill(INHABITANT.email);
      await existing.locator('input[name="password"]').fill(INHABITANT.password);
      const [response] = await Promise.all([second.page.waitForResponse((r) => r.url().endsWith('/compte-existant')),
        existing.locator('button').click()]);
      assert.equal(response.status(), 409);
      assert.match(await second.page.locator('main').innerText(), /déjà relié à une autre identité FranceConnect/);
      await checkAxe(second.page, 'second link refused');
      assert.equal(await signedIn(second.context), false);
    } finally {
      await second.context.close();
    }
    await assertNotLinked('fc-luc', 'after the refused link');
  });

  test('unlinking an account without a password sets one in the same step (ID-5)', async () => {
    const { context, page } = await freshPage();
    try {
      await franceConnect(page, 'fc-pierre');
      const create = page.locator('form[action="/franceconnect/rattachement/nouveau-compte"]');
      await Promise.all([page.waitForURL((u) => u.pathname === '/', { timeout: STEP_TIMEOUT_MS }),
        create.locator('button').click()]);
      await page.goto(`${server.base}/compte/identite`);
      // Born abroad: no birth commune, a country.
      assert.equal(await page.locator('#birthplace').inputValue(), '');
      assert.equal(await page.locator('#birthcountry').inputValue(), '99134');
      assert.match(await page.locator('#src-birthcountry').innerText(), /^Espagne — Certifié/);
      const unlink = page.locator('form[action="/compte/franceconnect/delier"]');
      assert.equal(await unlink.locator('input[name="password"]').count(), 1, 'no password yet: the form asks for one');
      await unlink.locator('input[name="password"]').fill('un nouveau mot de passe sûr');
      await unlink.locator('input[name="password_confirmation"]').fill('un nouveau mot de passe sûr');
      await Promise.all([page.waitForURL((u) => u.pathname === '/compte/identite' && u.search.includes('delie'), { timeout: STEP_TIMEOUT_MS }),
        unlink.locator('button').click()]);
      await checkAxe(page, 'identity sheet after unlinking');
      assert.equal(await page.locator('#family_name').getAttribute('readonly'), null, 'no longer certified');
      assert.equal(await page.locator('form[action="/compte/franceconnect/relier"]').count(), 1);
    } finally {
      await context.close();
    }
    // The password works, and the identity is free again.
    const { context: c2, page: p2 } = await freshPage();
    try {
      await p2.goto(`${server.base}/connexion`);
      const form = p2.locator('form[action="/connexion"]');
      await form.locator('input[name="email"]').fill(IDENTITIES['fc-pierre'].email);
      await form.locator('input[name="password"]').fill('un nouveau mot de passe sûr');
      await Promise.all([p2.waitForURL((u) => u.pathname !== '/connexion'), form.locator('button').click()]);
      assert.equal(await signedIn(c2), true);
    } finally {
      await c2.close();
    }
    await assertNotLinked('fc-pierre', 'after unlinking');
  });

  test('a service asking for a certified identity gets people through FranceConnect first, then acr and certified_at (ID-6)', async () => {
    // The service's site: receives the browser at its redirect URI.
    let arrived;
    const site = http.createServer((req, res) => { arrived = new URL(req.url, 'http://x'); res.end('service'); });
    await new Promise((r) => site.listen(0, '127.0.0.1', r));
    const redirectUri = `http://127.0.0.1:${site.address().port}/cb`;
    const service = JSON.parse(server.cli(['client', 'create', '--name', 'Service certifié', '--redirect-uri', redirectUri,
      '--scope', 'openid profile', '--json']));
    const discovery = await (await fetch(`${server.base}/.well-known/openid-configuration`)).json();
    assert.ok(discovery.acr_values_supported.includes('urn:mutualis:acr:certified'), 'published in discovery');
    const { context, page } = await freshPage();
    try {
      // Signed in with a password: not enough for this service.
      await page.goto(`${server.base}/connexion`);
      const form = page.locator('form[action="/connexion"]');
      await form.locator('input[name="email"]').fill(INHABITANT.email);
      await form.locator('input[name="password"]').fill(INHABITANT.password);
      await Promise.all([page.waitForURL((u) => u.pathname !== '/connexion'), form.locator('button').click()]);
      const nonce = 'n'.repeat(40);
      const authorize = `${server.base}/oidc/authorize?${new URLSearchParams({
        response_type: 'code', client_id: service.client_id, redirect_uri: redirectUri, scope: 'openid profile',
        state: 's'.repeat(40), nonce, acr_values: 'urn:mutualis:acr:certified',
      })}`;
      await page.goto(authorize);
      assert.equal(new URL(page.url()).pathname, '/connexion');
      assert.match(await page.locator('main').innerText(), /identité certifiée : connectez-vous avec FranceConnect/);
      assert.equal(await page.locator('form[action="/connexion"]').count(), 0, 'no password form');
      await checkAxe(page, 'login page asking for FranceConnect');
      fc.setAutoLogin('fc-nadia'); // linked to this inhabitant's account
      await Promise.all([page.waitForURL((u) => u.pathname === '/oidc/authorize' || u.pathname === '/oidc/consent', { timeout: STEP_TIMEOUT_MS }),
        page.locator('form[action="/franceconnect/connexion"] button').click()]);
      const consent = page.locator('form[action="/oidc/consent"]');
      await consent.waitFor({ timeout: STEP_TIMEOUT_MS });
      await checkAxe(page, 'consent page');
      await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: STEP_TIMEOUT_MS }),
        consent.locator('button[name="decision"][value="allow"]').click()]);
      assert.ok(arrived?.searchParams.get('code'), 'the service got a code');
      const tokens = await (await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: arrived.searchParams.get('code'), redirect_uri: redirectUri }),
      })).json();
      const { payload } = await jose.jwtVerify(tokens.id_token, jose.createRemoteJWKSet(new URL(discovery.jwks_uri)),
        { issuer: discovery.issuer, audience: service.client_id });
      assert.equal(payload.nonce, nonce);
      assert.equal(payload.acr, 'urn:mutualis:acr:certified');
      assert.equal(typeof payload.certified_at, 'number');
      assert.ok(Math.abs(payload.certified_at - Date.now() / 1000) < 120, `certified_at ${payload.certified_at} is the last FranceConnect sign-in`);
      // A refreshed ID token says the same.
      const refreshed = await (await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
      })).json();
      const again = (await jose.jwtVerify(refreshed.id_token, jose.createRemoteJWKSet(new URL(discovery.jwks_uri)),
        { issuer: discovery.issuer, audience: service.client_id })).payload;
      assert.equal(again.acr, 'urn:mutualis:acr:certified');
      assert.equal(again.certified_at, payload.certified_at);
    } finally {
      await context.close();
      site.close();
    }
  });

  test('FranceConnect rotates its key: the JWKS is read again once (ID-5)', async () => {
    fc.setFault('unknown-kid');
    const { context, page } = await freshPage();
    try {
      await franceConnect(page, 'fc-angela');
      assert.equal(new URL(page.url()).pathname, '/');
      assert.equal(await signedIn(context), true);
    } finally {
      await context.close();
    }
  });

  describe('refusals: a French error page, no session, nothing linked', () => {
    /** Starts a FranceConnect sign-in and returns the response to its callback. */
    async function callbackWith(page, sub) {
      fc.setAutoLogin(sub);
      await page.goto(`${server.base}/connexion`);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith(`${server.base}/franceconnect/retour`), { timeout: STEP_TIMEOUT_MS }),
        page.locator('form[action="/franceconnect/connexion"] button').click(),
      ]);
      await page.waitForLoadState('load');
      return response;
    }

    for (const [what, fault] of [
      ['wrong state', 'wrong-state'],
      ['wrong iss', 'wrong-iss'],
      ['forged ID token', 'forged-id-token'],
      ['expired ID token', 'expired-id-token'],
      ['userinfo with a bad signature', 'bad-userinfo-signature'],
    ]) {
      test(what, async () => {
        fc.setFault(fault);
        const { context, page } = await freshPage();
        try {
          const response = await callbackWith(page, 'fc-luc');
          await assertRefused(page, context, response, what);
        } finally {
          await context.close();
        }
        fc.setFault(null);
        await assertNotLinked('fc-luc', what);
      });
    }

    test('replayed callback', async () => {
      const { context, page } = await freshPage();
      let callbackUrl;
      try {
        fc.setAutoLogin('fc-luc');
        page.on('request', (r) => { if (r.url().startsWith(`${server.base}/franceconnect/retour`)) callbackUrl = r.url(); });
        await franceConnect(page, 'fc-luc');
        assert.equal(new URL(page.url()).pathname, '/franceconnect/rattachement', 'the first use works');
        const response = await page.goto(callbackUrl);
        await assertRefused(page, context, response, 'replayed callback');
      } finally {
        await context.close();
      }
    });
  });
});
