// Reference server of bench/oidc: oidc-provider configured like Mutualis.
//
//   node provider.mjs --port P [--workers N] [--email E --password-stdin]
//
// - client_credentials with RFC 9068 JWT access tokens (resourceIndicators,
//   accessTokenFormat 'jwt'), signed ES256 for resource urn:bench:es256 and
//   RS256 for urn:bench:rs256 (one P-256 and one RSA-2048 key);
// - authorization code flow with PKCE (S256), password login checked with
//   argon2id m=19456 KiB, t=2, p=1 (npm `argon2`, the C reference
//   implementation, on libuv's thread pool), consent already given (a grant
//   created at start for the bench account and client).
// Clients and the account come from the BENCH_CONF environment variable
// (JSON). With --workers N > 1, node:cluster forks N processes sharing the
// port (client_credentials only: the in-memory adapter is per process, so
// login flows need a single process). Prints "ready" on stdout.
import cluster from 'node:cluster';
import crypto from 'node:crypto';
import argon2 from 'argon2';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port'));
const workers = Number(opt('--workers', '1'));
const conf = JSON.parse(process.env.BENCH_CONF);

if (workers > 1 && cluster.isPrimary) {
  // Same keys and the same account hash in every worker.
  process.env.BENCH_KEYS = JSON.stringify(makeKeys());
  let up = 0;
  for (let i = 0; i < workers; i += 1) {
    const w = cluster.fork();
    w.on('message', (m) => {
      if (m === 'listening' && (up += 1) === workers) console.log('ready');
    });
  }
  cluster.on('exit', (w, code) => {
    console.error(`worker ${w.process.pid} exited (${code})`);
    process.exit(1);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  await start();
}

function makeKeys() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [{ ...rsa, alg: 'RS256', use: 'sig', kid: 'rs' }, { ...ec, alg: 'ES256', use: 'sig', kid: 'es' }];
}

async function start() {
  const keys = process.env.BENCH_KEYS ? JSON.parse(process.env.BENCH_KEYS) : makeKeys();
  const issuer = `http://127.0.0.1:${port}`;
  const account = conf.account;
  const hash = await argon2.hash(account.password, {
    type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1,
  });
  const accounts = new Map([[account.email, { id: 'acct-1', hash, ...account }]]);
  const byId = new Map([['acct-1', accounts.get(account.email)]]);
  const consents = new Map();
  const resources = { 'urn:bench:es256': 'ES256', 'urn:bench:rs256': 'RS256' };

  const provider = new Provider(issuer, {
    clients: conf.clients,
    jwks: { keys },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['given_name', 'family_name'],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Only client_credentials asks for a resource; the login flow's
        // access token stays the one userinfo accepts.
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resource) => {
          const alg = resources[resource];
          if (!alg) throw new Provider.errors.InvalidTarget();
          return { scope: 'api', audience: resource, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
        },
      },
    },
    findAccount: async (ctx, sub) => {
      const a = byId.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub, email: a.email, email_verified: true, given_name: a.given_name, family_name: a.family_name,
        }),
      };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // Consent already given: the grant created below for the bench account.
    loadExistingGrant: async (ctx) => {
      const id = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId)
        || consents.get(`${ctx.oidc.session.accountId}|${ctx.oidc.client.clientId}`);
      return id ? ctx.oidc.provider.Grant.find(id) : undefined;
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  for (const c of conf.clients) {
    if (!(c.grant_types || ['authorization_code']).includes('authorization_code')) continue;
    const grant = new provider.Grant({ accountId: 'acct-1', clientId: c.client_id });
    grant.addOIDCScope('openid profile email');
    consents.set(`acct-1|${c.client_id}`, await grant.save());
  }

  const readForm = (req) => new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  // The login interaction (the counterpart of Mutualis's /connexion).
  provider.use(async (ctx, next) => {
    const m = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!m) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.method === 'GET' && !m[2]) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Connexion</title></head><body>
<form method="post" action="/interaction/${esc(details.uid)}/login">
<label for="email">Adresse électronique</label><input type="email" id="email" name="email" required>
<label for="password">Mot de passe</label><input type="password" id="password" name="password" required>
<button type="submit">Se connecter</button></form></body></html>`;
      return undefined;
    }
    if (ctx.method === 'POST' && m[2]) {
      const form = await readForm(ctx.req);
      const a = accounts.get(form.get('email') || '');
      const ok = a ? await argon2.verify(a.hash, form.get('password') || '') : false;
      if (!ok) {
        ctx.status = 401;
        ctx.body = 'invalid credentials';
        return undefined;
      }
      const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: a.id } }, { mergeWithLastSubmission: false });
      ctx.status = 303;
      ctx.redirect(to);
      return undefined;
    }
    return next();
  });

  const server = provider.listen(port, '127.0.0.1', () => {
    if (cluster.isWorker) process.send('listening');
    else console.log('ready');
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
