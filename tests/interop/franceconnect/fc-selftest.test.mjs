// Self-test of the FranceConnect stand-in (fc.mjs), without a browser and
// without Mutualis: a relying party played with fetch (redirects followed by
// hand, cookies carried by a small jar) and jose for the JWT checks.
//
// Run: npm ci && npm test   (from tests/interop/franceconnect)

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { EVIL_ISSUER, startFranceConnect } from './fc.mjs';

// Port 1 is never listened to: the flow stops when a redirect points there.
const RP = 'http://127.0.0.1:1';
const CLIENT = {
  client_id: 'mutualis-selftest',
  client_secret: crypto.randomBytes(32).toString('hex'),
  redirect_uris: [`${RP}/cb`],
  post_logout_redirect_uris: [`${RP}/logged-out`],
};
const IDENTITIES = {
  'sub-angela': {
    given_name: 'Angela Claire Louise',
    family_name: 'DUBOIS',
    birthdate: '1962-08-24',
    gender: 'female',
    birthplace: '75107',
    birthcountry: '99100',
    email: 'angela.dubois@example.fr',
    preferred_username: 'MARTIN',
  },
  'sub-pierre': {
    given_name: 'Pierre',
    family_name: 'MERCIER',
    birthdate: '1990-01-15',
    gender: 'male',
    birthplace: '',
    birthcountry: '99134',
    email: 'pierre.mercier@example.fr',
  },
};
const SCOPE = 'openid given_name family_name birthdate gender birthplace birthcountry email preferred_username';
const PIVOT = ['given_name', 'family_name', 'birthdate', 'gender', 'birthplace', 'birthcountry'];

const random = () => crypto.randomBytes(32).toString('base64url');

// Cookies by name, with their path; enough for one host.
class Jar {
  #cookies = new Map();

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) || '/';
      const gone = !value || attrs.some((a) => /^expires=.*1970/i.test(a));
      if (gone) this.#cookies.delete(name);
      else this.#cookies.set(name, { value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies]
      .filter(([, c]) => pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }
}

async function send(jar, url, init = {}) {
  const res = await fetch(url, {
    ...init, redirect: 'manual', headers: { ...init.headers, cookie: jar.header(url) },
  });
  jar.store(res);
  return res;
}

// Follows redirects until one leaves for the relying party; returns that URL.
async function follow(jar, url, init) {
  let res = await send(jar, url, init);
  for (let hops = 0; hops < 10; hops += 1) {
    assert.ok([302, 303].includes(res.status), `${res.status} at ${res.url}: ${await res.text()}`);
    const to = new URL(res.headers.get('location'), res.url);
    if (to.origin === RP) return to;
    res = await send(jar, to.href);
  }
  throw new Error('too many redirects');
}

const form = (fields) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('FranceConnect stand-in', () => {
  let fc;
  let discovery;
  let jwks; // as fetched at start, the way a relying party caches it
  let realKid;

  function authorizeUrl({ state, nonce }) {
    const url = new URL(discovery.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT.client_id,
      redirect_uri: CLIENT.redirect_uris[0],
      scope: SCOPE,
      acr_values: 'eidas1',
      state,
      nonce,
    }).toString();
    return url.href;
  }

  // Authorization with the automatic login; returns the callback URL.
  async function authorize() {
    const jar = new Jar();
    const state = random();
    const nonce = random();
    fc.setAutoLogin('sub-angela');
    try {
      return { jar, state, nonce, callback: await follow(jar, authorizeUrl({ state, nonce })) };
    } finally {
      fc.setAutoLogin(null);
    }
  }

  async function exchange(code, { basic = false } = {}) {
    const fields = { grant_type: 'authorization_code', code, redirect_uri: CLIENT.redirect_uris[0] };
    const auth = `Basic ${Buffer.from(`${CLIENT.client_id}:${CLIENT.client_secret}`).toString('base64')}`;
    const res = await fetch(discovery.token_endpoint, basic
      ? { ...form(fields), headers: { ...form(fields).headers, authorization: auth } }
      : form({ ...fields, client_id: CLIENT.client_id, client_secret: CLIENT.client_secret }));
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }

  async function userinfo(accessToken) {
    const res = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/jwt\b/);
    return res.text();
  }

  // The whole relying-party side up to the tokens.
  async function login() {
    const flow = await authorize();
    const tokens = await exchange(flow.callback.searchParams.get('code'));
    return { ...flow, tokens };
  }

  const verifyIdToken = (idToken, nonce, keys = jwks) => jwtVerify(idToken, keys, {
    algorithms: ['ES256'], issuer: fc.issuer, audience: CLIENT.client_id, requiredClaims: ['nonce', 'acr'],
  }).then(({ payload, protectedHeader }) => {
    assert.equal(payload.nonce, nonce);
    return { payload, protectedHeader };
  });

  // RP-initiated logout as Chromium plays it: the page submits its form.
  async function logout(jar, idTokenHint, state) {
    const url = new URL(discovery.end_session_endpoint);
    url.search = new URLSearchParams({
      id_token_hint: idTokenHint, state, post_logout_redirect_uri: CLIENT.post_logout_redirect_uris[0],
    }).toString();
    const res = await send(jar, url.href);
    const html = await res.text();
    assert.equal(res.status, 200, html);
    assert.match(html, /<html lang="fr">/);
    assert.match(html, /\.submit\(\)/, 'the page submits itself');
    const action = html.match(/<form id="op\.logoutForm" method="post" action="([^"]+)"/)[1];
    const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    assert.equal(fields.logout, 'yes');
    return follow(jar, action, form(fields));
  }

  before(async () => {
    fc = await startFranceConnect({ port: 0, clients: [CLIENT], identities: IDENTITIES });
    discovery = await (await fetch(`${fc.issuer}/.well-known/openid-configuration`)).json();
    const doc = await (await fetch(discovery.jwks_uri)).json();
    assert.equal(doc.keys.length, 1);
    realKid = doc.keys[0].kid;
    jwks = createLocalJWKSet(doc);
  });

  after(() => fc?.stop());

  test('discovery: everything under /api/v2, eidas1, ES256 userinfo, end_session', () => {
    assert.match(fc.issuer, /^http:\/\/127\.0\.0\.1:\d+\/api\/v2$/);
    assert.equal(discovery.issuer, fc.issuer);
    assert.equal(discovery.authorization_endpoint, `${fc.issuer}/authorize`);
    assert.equal(discovery.token_endpoint, `${fc.issuer}/token`);
    assert.equal(discovery.userinfo_endpoint, `${fc.issuer}/userinfo`);
    assert.equal(discovery.end_session_endpoint, `${fc.issuer}/session/end`);
    assert.equal(discovery.jwks_uri, `${fc.issuer}/jwks`);
    assert.ok(discovery.acr_values_supported.includes('eidas1'));
    assert.ok(discovery.userinfo_signing_alg_values_supported.includes('ES256'));
    assert.deepEqual(discovery.id_token_signing_alg_values_supported, ['ES256']);
    assert.deepEqual(discovery.response_types_supported, ['code']);
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    assert.deepEqual(SCOPE.split(' ').filter((s) => !discovery.scopes_supported.includes(s)), []);
  });

  test('nothing is served outside /api/v2 but the login pages', async () => {
    assert.equal((await fetch(fc.url('/token'), form({}))).status, 404);
    assert.equal((await fetch(fc.url('/.well-known/openid-configuration'))).status, 404);
  });

  test('code flow with eidas1 and client_secret_post: ID token, then userinfo as a signed JWT', async () => {
    const count = fc.logins.length;
    const { callback, state, nonce, tokens } = await login();
    assert.equal(callback.pathname, '/cb');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), fc.issuer);
    assert.ok(callback.searchParams.get('code'));

    const { payload, protectedHeader } = await verifyIdToken(tokens.id_token, nonce);
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.sub, 'sub-angela');
    assert.equal(payload.acr, 'eidas1');
    // Claims come from userinfo only, as with FranceConnect.
    assert.deepEqual(PIVOT.filter((c) => c in payload), []);

    const jwt = await userinfo(tokens.access_token);
    const { payload: claims, protectedHeader: uiHeader } = await jwtVerify(jwt, jwks, { algorithms: ['ES256'], issuer: fc.issuer, audience: CLIENT.client_id });
    assert.equal(uiHeader.alg, 'ES256');
    const { sub, ...delivered } = claims;
    assert.equal(sub, 'sub-angela');
    assert.deepEqual(
      Object.fromEntries(Object.entries(delivered).filter(([c]) => !['iss', 'aud', 'iat', 'exp'].includes(c))),
      IDENTITIES['sub-angela'],
    );

    assert.equal(fc.logins.length, count + 1);
    assert.equal(fc.logins.at(-1).sub, 'sub-angela');
    assert.equal(fc.logins.at(-1).client_id, CLIENT.client_id);
    assert.ok(fc.logins.at(-1).at instanceof Date);
  });

  test('client_secret_basic is accepted too', async () => {
    const { callback, nonce } = await authorize();
    const tokens = await exchange(callback.searchParams.get('code'), { basic: true });
    await verifyIdToken(tokens.id_token, nonce);
  });

  test('login page: accessible French form choosing an identity', async () => {
    const jar = new Jar();
    const state = random();
    const nonce = random();
    const res = await send(jar, authorizeUrl({ state, nonce }));
    assert.equal(res.status, 303);
    const pageUrl = new URL(res.headers.get('location'), res.url);
    assert.match(pageUrl.pathname, /^\/interaction\/[^/]+$/);
    const page = await send(jar, pageUrl.href);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /<html lang="fr">/);
    assert.match(html, /<title>[^<]+<\/title>/);
    assert.match(html, /<main>[\s\S]*<h1>[^<]+<\/h1>[\s\S]*<\/main>/);
    assert.match(html, /<label for="sub">[^<]+<\/label>\s*<select id="sub" name="sub">/);
    assert.match(html, /<option value="sub-pierre">Pierre MERCIER<\/option>/);
    assert.match(html, /<button type="submit">Continuer<\/button>/);
    const action = new URL(html.match(/<form method="post" action="([^"]+)"/)[1], pageUrl);
    assert.equal(action.pathname, `${pageUrl.pathname}/login`);

    const callback = await follow(jar, action.href, form({ sub: 'sub-pierre' }));
    assert.equal(callback.searchParams.get('state'), state);
    const tokens = await exchange(callback.searchParams.get('code'));
    assert.equal((await verifyIdToken(tokens.id_token, nonce)).payload.sub, 'sub-pierre');
    const { payload } = await jwtVerify(await userinfo(tokens.access_token), jwks);
    assert.equal(payload.birthplace, '', 'born abroad: empty birthplace');
    assert.equal(payload.birthcountry, '99134');
    assert.ok(!('preferred_username' in payload));
    assert.equal(fc.logins.at(-1).sub, 'sub-pierre');
  });

  test('RP-initiated logout: no confirmation, back to post_logout_redirect_uri with state', async () => {
    const { jar, tokens } = await login();
    const state = random();
    const back = await logout(jar, tokens.id_token, state);
    assert.equal(`${back.origin}${back.pathname}`, CLIENT.post_logout_redirect_uris[0]);
    assert.equal(back.searchParams.get('state'), state);
    // The session is over: the next authorization asks for a login again.
    const res = await send(jar, authorizeUrl({ state: random(), nonce: random() }));
    assert.match(new URL(res.headers.get('location'), res.url).pathname, /^\/interaction\//);
  });

  describe('faults', () => {
    afterEach(() => fc.setFault(null));

    test('unknown fault names are refused', () => {
      assert.throws(() => fc.setFault('typo'), TypeError);
    });

    test('forged-id-token: same header and claims, another key: does not verify', async () => {
      fc.setFault('forged-id-token');
      const { tokens, nonce } = await login();
      assert.equal(decodeProtectedHeader(tokens.id_token).kid, realKid);
      assert.equal(decodeJwt(tokens.id_token).nonce, nonce);
      await assert.rejects(verifyIdToken(tokens.id_token, nonce), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
      await jwtVerify(await userinfo(tokens.access_token), jwks);
    });

    test('expired-id-token: genuine signature, expired 10 minutes ago', async () => {
      fc.setFault('expired-id-token');
      const { tokens, nonce } = await login();
      await compactVerify(tokens.id_token, jwks);
      await assert.rejects(verifyIdToken(tokens.id_token, nonce), { code: 'ERR_JWT_EXPIRED' });
      const { exp, iat } = decodeJwt(tokens.id_token);
      const now = Math.floor(Date.now() / 1000);
      assert.ok(Math.abs(exp - (now - 600)) <= 5, `exp ${exp}, now ${now}`);
      assert.ok(Math.abs(iat - (now - 1200)) <= 5, `iat ${iat}, now ${now}`);
    });

    test('bad-userinfo-signature: the userinfo JWT does not verify, the ID token does', async () => {
      fc.setFault('bad-userinfo-signature');
      const { tokens, nonce } = await login();
      await verifyIdToken(tokens.id_token, nonce);
      const jwt = await userinfo(tokens.access_token);
      assert.equal(decodeProtectedHeader(jwt).kid, realKid);
      assert.equal(decodeJwt(jwt).family_name, IDENTITIES['sub-angela'].family_name);
      await assert.rejects(compactVerify(jwt, jwks), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });

    test('unknown-kid: a new key, verifiable only with a JWKS fetched again', async () => {
      fc.setFault('unknown-kid');
      const { jar, tokens, nonce } = await login();
      const { kid } = decodeProtectedHeader(tokens.id_token);
      assert.notEqual(kid, realKid);
      await assert.rejects(verifyIdToken(tokens.id_token, nonce), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      const fresh = await (await fetch(discovery.jwks_uri)).json();
      assert.deepEqual(fresh.keys.map((k) => k.kid), [realKid, kid]);
      await verifyIdToken(tokens.id_token, nonce, createLocalJWKSet(fresh));
      const jwt = await userinfo(tokens.access_token);
      assert.equal(decodeProtectedHeader(jwt).kid, kid);
      await assert.rejects(compactVerify(jwt, jwks), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
      await compactVerify(jwt, createLocalJWKSet(fresh));

      // Once reset, the JWKS is the original one again, and that ID token
      // still serves as id_token_hint.
      fc.setFault(null);
      assert.deepEqual((await (await fetch(discovery.jwks_uri)).json()).keys.map((k) => k.kid), [realKid]);
      const state = random();
      const back = await logout(jar, tokens.id_token, state);
      assert.equal(back.searchParams.get('state'), state);
    });

    test('wrong-iss: the authorization response names another issuer', async () => {
      fc.setFault('wrong-iss');
      const { callback, state, nonce } = await authorize();
      assert.equal(callback.searchParams.get('iss'), EVIL_ISSUER);
      assert.equal(callback.searchParams.get('state'), state);
      const tokens = await exchange(callback.searchParams.get('code'));
      await verifyIdToken(tokens.id_token, nonce);
    });

    test('wrong-state: the authorization response carries another state', async () => {
      fc.setFault('wrong-state');
      const { callback, state } = await authorize();
      assert.equal(callback.searchParams.get('iss'), fc.issuer);
      assert.notEqual(callback.searchParams.get('state'), state);
      assert.ok(callback.searchParams.get('state').length >= 32);
    });

    test('after setFault(null), every answer is honest again', async () => {
      fc.setFault('forged-id-token');
      fc.setFault(null);
      const { callback, tokens, nonce } = await login();
      assert.equal(callback.searchParams.get('iss'), fc.issuer);
      assert.equal((await verifyIdToken(tokens.id_token, nonce)).protectedHeader.kid, realKid);
      await jwtVerify(await userinfo(tokens.access_token), jwks);
    });
  });
});
