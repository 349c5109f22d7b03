// FranceConnect v2 stand-in for the interoperability tests of Mutualis as a
// FranceConnect relying party ("fournisseur de service"), built on the
// OpenID-certified `oidc-provider`.
//
//   const fc = await startFranceConnect({ port: 0, clients, identities });
//   // fc.issuer === 'http://127.0.0.1:<port>/api/v2'
//   fc.setAutoLogin('sub-of-an-identity');   // or null: the login page
//   fc.setFault('forged-id-token');          // or null: honest answers
//   await fc.stop();
//
// What it reproduces of FranceConnect v2:
// - everything under /api/v2 (discovery, authorize, token, userinfo,
//   session/end, jwks), the issuer being http://127.0.0.1:<port>/api/v2;
// - authorization code flow only, PKCE optional, client_secret_post (and
//   client_secret_basic) at the token endpoint;
// - ES256 ID tokens and ES256-signed userinfo (application/jwt), one P-256
//   key generated at start;
// - acr 'eidas1'; one scope per claim of the identité pivot, the claims
//   delivered by userinfo only (the ID token carries sub, acr, nonce...);
// - RP-initiated logout without confirmation, back to
//   post_logout_redirect_uri?state=...
// The login is a page choosing one of the `identities` (or automatic with
// setAutoLogin); consent is given automatically.
//
// setFault() rewrites answers to play an attacker or a misbehaving provider;
// see applyFault below.

import crypto from 'node:crypto';
import http from 'node:http';
import { CompactSign, compactVerify, decodeJwt, decodeProtectedHeader } from 'jose';
import Provider from 'oidc-provider';

const PREFIX = '/api/v2';
const ROUTES = {
  authorization: '/authorize',
  token: '/token',
  userinfo: '/userinfo',
  end_session: '/session/end',
  jwks: '/jwks',
};
// The identité pivot and the other FranceConnect claims, one scope each.
const CLAIMS = [
  'given_name', 'family_name', 'birthdate', 'gender', 'birthplace', 'birthcountry',
  'email', 'preferred_username',
];
const FAULTS = new Set([
  'forged-id-token', 'expired-id-token', 'bad-userinfo-signature', 'unknown-kid', 'wrong-iss',
  'wrong-state',
]);
export const EVIL_ISSUER = 'https://evil.example/api/v2';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const randomKid = () => crypto.randomBytes(12).toString('base64url');
const newP256 = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const publicJwk = (privateKey, kid) => ({
  ...crypto.createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig',
});

function page(title, main) {
  return `<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${esc(title)} - FranceConnect (simulation)</title>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
${main}
</main>
</body>
</html>`;
}

// A JWT whose first two segments are kept byte for byte, with a signature of
// them by another key. Node's crypto rather than jose: jose would re-serialise
// the header, and the point is that only the signature differs.
function swapSignature(jwt, privateKey) {
  const signingInput = jwt.slice(0, jwt.lastIndexOf('.'));
  const signature = crypto.sign('sha256', Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

// A JWT as the provider issued it, re-signed by `privateKey` under the same
// header but for `kid`, its payload changed by `edit`.
function resign(jwt, privateKey, { kid, edit = (payload) => payload }) {
  const payload = edit(decodeJwt(jwt));
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ ...decodeProtectedHeader(jwt), kid })
    .sign(privateKey);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

/**
 * Starts the stand-in on 127.0.0.1:`port` (0: a free port).
 * - clients: [{ client_id, client_secret, redirect_uris, post_logout_redirect_uris }]
 * - identities: { sub: { given_name, family_name, birthdate, gender, birthplace,
 *   birthcountry, email, preferred_username? } } (a plain object or a Map).
 * Returns:
 * - issuer: http://127.0.0.1:<port>/api/v2;
 * - url(path): `path` made absolute on the stand-in's origin, e.g.
 *   url('/api/v2/jwks');
 * - setAutoLogin(sub|null): log that identity in without showing the page;
 * - setFault(name|null): one of FAULTS at a time, until null;
 * - logins: receives { sub, client_id, at (a Date) } for every completed login;
 * - stop(): closes the server (a promise).
 */
export async function startFranceConnect({ port, clients, identities }) {
  const people = identities instanceof Map ? identities : new Map(Object.entries(identities));

  // The provider needs its issuer, so its port, at construction: listen first.
  let app;
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname.startsWith(`${PREFIX}/`)) {
      // Mounted the way Express mounts it: oidc-provider derives the prefix of
      // the URLs it publishes (discovery, redirects) from originalUrl minus url.
      req.originalUrl = req.url;
      req.url = req.url.slice(PREFIX.length);
    } else if (!pathname.startsWith('/interaction/')) {
      // Only /api/v2 and the login pages exist; without this the provider
      // would also answer at /token, /jwks... outside the prefix.
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
      return;
    }
    app(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const issuer = `${origin}${PREFIX}`;

  const signing = { kid: randomKid(), key: newP256() };
  // Keys published by the 'unknown-kid' fault, kept after it ends so that an
  // ID token signed with one still works as id_token_hint (see below).
  const rotated = new Map();
  let rotation = null;
  let fault = null;
  let autoLogin = null;
  const logins = [];

  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      ...c,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      // client_secret_post is what FranceConnect documents; oidc-provider
      // accepts client_secret_basic as well from any client registered with
      // either of the two.
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
      userinfo_signed_response_alg: 'ES256',
    })),
    jwks: { keys: [{ ...signing.key.export({ format: 'jwk' }), kid: signing.kid, alg: 'ES256', use: 'sig' }] },
    clientAuthMethods: ['client_secret_post', 'client_secret_basic'],
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      userinfoSigningAlgValues: ['ES256'],
    },
    responseTypes: ['code'],
    // No offline_access: FranceConnect issues no refresh token.
    scopes: ['openid'],
    claims: { openid: ['sub'], ...Object.fromEntries(CLAIMS.map((c) => [c, [c]])) },
    // conformIdTokenClaims (true, the default, kept explicit): in the code
    // flow the ID token carries no scope-requested claim, only userinfo does,
    // as with FranceConnect. claimsParameter stays disabled (the default), so
    // a `claims` request cannot pull them into the ID token either.
    conformIdTokenClaims: true,
    acrValues: ['eidas1'],
    // FranceConnect requires redirect_uri even with a single registered one.
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: { required: () => false },
    cookies: {
      keys: [crypto.randomBytes(32).toString('hex')],
      // Cookies ignore ports: the relying party under test runs on the same
      // 127.0.0.1, so names of our own rather than oidc-provider's generic
      // ones. No Secure flag is set over plain http (oidc-provider adds it
      // only when the request is https), and SameSite=Lax lets the top-level
      // redirects from the relying party carry them: nothing else is needed
      // for Chromium on loopback http.
      names: { session: 'fc_session', interaction: 'fc_interaction', resume: 'fc_interaction_resume' },
    },
    routes: ROUTES,
    ttl: {
      AccessToken: 60,
      AuthorizationCode: 60,
      IdToken: 300,
      Interaction: 600,
      Session: 1800,
      Grant: 1800,
    },
    // The relying party calls userinfo from its back end: no CORS.
    clientBasedCORS: () => false,
    findAccount: async (ctx, sub) => {
      const person = people.get(sub);
      return person && { accountId: sub, claims: async () => ({ sub, ...person }) };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      // On by default in oidc-provider 9, absent from FranceConnect.
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      jwtUserinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // FranceConnect logs out without asking: oidc-provider always renders
        // this page when there is a session, so it submits itself (the way
        // the oidc-provider maintainer recommends, panva/node-oidc-provider
        // #223), with logout=yes to end the whole session. The hidden input
        // joins the form through its form attribute.
        logoutSource: async (ctx, form) => {
          ctx.body = page('Déconnexion', `${form}
<input type="hidden" name="logout" value="yes" form="op.logoutForm">
<p>Déconnexion en cours…</p>
<noscript><button type="submit" form="op.logoutForm">Continuer</button></noscript>
<script>document.getElementById('op.logoutForm').submit();</script>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Déconnexion', '<p>Vous êtes déconnecté de FranceConnect.</p>');
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Erreur', `<p>${esc(out.error)}</p><p>${esc(out.error_description || '')}</p>`);
    },
  });
  provider.on('server_error', (ctx, err) => console.error('franceconnect stand-in: server_error', err));

  function loginPage(uid) {
    const options = [...people].map(([sub, p]) => `<option value="${esc(sub)}">${esc(`${p.given_name} ${p.family_name}`)}</option>`);
    return page('Choisir une identité', `<form method="post" action="/interaction/${esc(uid)}/login">
<label for="sub">Identité</label>
<select id="sub" name="sub">
${options.join('\n')}
</select>
<button type="submit">Continuer</button>
</form>`);
  }

  async function finishLogin(ctx, details, sub) {
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: sub, acr: 'eidas1' } }, { mergeWithLastSubmission: false });
    logins.push({ sub, client_id: details.params.client_id, at: new Date() });
    ctx.status = 303;
    ctx.redirect(to);
  }

  // Consent for everything asked, without a page.
  async function finishConsent(ctx, details) {
    const { prompt: { details: missing }, params, session, grantId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: await grant.save() } });
    ctx.status = 303;
    ctx.redirect(to);
  }

  // The login and consent interactions.
  provider.use(async (ctx, next) => {
    const m = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!m) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== m[1]) ctx.throw(400, 'interaction inconnue ou expirée');
    const prompt = details.prompt.name;
    if (ctx.method === 'GET' && !m[2]) {
      if (prompt === 'consent') return finishConsent(ctx, details);
      if (prompt === 'login' && autoLogin) return finishLogin(ctx, details, autoLogin);
      if (prompt === 'login') {
        ctx.type = 'html';
        ctx.body = loginPage(details.uid);
        return undefined;
      }
    }
    if (ctx.method === 'POST' && m[2] && prompt === 'login') {
      const sub = (await readForm(ctx.req)).get('sub');
      if (!people.has(sub)) ctx.throw(400, 'identité inconnue');
      return finishLogin(ctx, details, sub);
    }
    return ctx.throw(400, `interaction ${prompt} non prise en charge ici`);
  });

  // Faults, and the id_token_hint of rotated keys.
  provider.use(async (ctx, next) => {
    // oidc-provider checks id_token_hint against its own keystore, fixed at
    // construction, which lacks the keys the 'unknown-kid' fault made up:
    // hand it the same claims signed with its key. GET only: relying parties
    // reach end_session by redirect.
    const hint = ctx.method === 'GET' && ctx.path === ROUTES.end_session && ctx.query.id_token_hint;
    const key = typeof hint === 'string' && rotatedKeyOf(hint);
    if (key && await compactVerify(hint, crypto.createPublicKey(key)).then(() => true, () => false)) {
      const query = new URLSearchParams(ctx.querystring);
      query.set('id_token_hint', await resign(hint, signing.key, { kid: signing.kid }));
      ctx.querystring = query.toString();
      // Keeps originalUrl ending with url, the prefix being derived from it.
      ctx.req.originalUrl = `${PREFIX}${ctx.url}`;
    }
    await next();
    if (fault) await applyFault(ctx);
  });

  // Malformed hints are left for oidc-provider to reject.
  function rotatedKeyOf(jwt) {
    try {
      return rotated.get(decodeProtectedHeader(jwt).kid);
    } catch {
      return undefined;
    }
  }

  async function applyFault(ctx) {
    const route = ctx.oidc?.route;
    const idToken = route === 'token' && ctx.status === 200 ? ctx.body.id_token : undefined;
    const userinfo = route === 'userinfo' && ctx.status === 200 && ctx.response.is('application/jwt') ? ctx.body : undefined;
    switch (fault) {
      case 'forged-id-token':
        // Same header, so the same kid: only the key differs.
        if (idToken) ctx.body = { ...ctx.body, id_token: swapSignature(idToken, newP256()) };
        break;
      case 'expired-id-token':
        if (idToken) {
          const now = Math.floor(Date.now() / 1000);
          ctx.body = {
            ...ctx.body,
            id_token: await resign(idToken, signing.key, { kid: signing.kid, edit: (p) => ({ ...p, iat: now - 1200, exp: now - 600 }) }),
          };
        }
        break;
      case 'bad-userinfo-signature':
        if (userinfo) ctx.body = swapSignature(userinfo, newP256());
        break;
      case 'unknown-kid':
        if (idToken) ctx.body = { ...ctx.body, id_token: await resign(idToken, rotation.key, { kid: rotation.kid }) };
        if (userinfo) ctx.body = await resign(userinfo, rotation.key, { kid: rotation.kid });
        if (route === 'jwks' && ctx.status === 200) ctx.body = { keys: [...ctx.body.keys, publicJwk(rotation.key, rotation.kid)] };
        break;
      case 'wrong-iss':
      case 'wrong-state': {
        const location = ctx.response.get('location');
        if ((route === 'authorization' || route === 'resume') && location) {
          // Interaction redirects are relative, the one to the client absolute.
          const to = new URL(location, issuer);
          if (to.searchParams.has('code')) {
            if (fault === 'wrong-iss') to.searchParams.set('iss', EVIL_ISSUER);
            // Another request's state: what a forged or crossed callback carries.
            else to.searchParams.set('state', crypto.randomBytes(32).toString('base64url'));
            ctx.redirect(to.href);
          }
        }
        break;
      }
    }
  }

  app = provider.callback();

  return {
    issuer,
    url: (path) => new URL(path, origin).href,
    logins,
    setFault(name) {
      if (name !== null && !FAULTS.has(name)) throw new TypeError(`unknown fault ${name}; one of ${[...FAULTS].join(', ')}`);
      fault = name;
      if (name === 'unknown-kid') {
        // A new key each time, so that no JWKS fetched before can know it.
        rotation = { kid: randomKid(), key: newP256() };
        rotated.set(rotation.kid, rotation.key);
      }
    },
    setAutoLogin(sub) {
      if (sub !== null && !people.has(sub)) throw new TypeError(`unknown identity ${sub}`);
      autoLogin = sub;
    },
    stop: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
