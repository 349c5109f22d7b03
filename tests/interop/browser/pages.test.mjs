// Accessibility of every page of Mutualis, in a real (headless) Chromium with axe-core.
//
// Starts the `mutualis` binary itself on a free loopback port with a fresh data
// directory (--demo --no-metrics), asks it for its page list (`mutualis pages`),
// then checks, with axe-core (WCAG 2.0/2.1 A and AA rules):
//   - every public page, anonymously, in French then in English;
//   - every staff page, logged in through the form as the metropolis admin,
//     then logout through the header button;
//   - every staff page as a commune admin (a 403 page is accepted, but it must
//     pass axe too);
//   - the keyboard: the first Tab on the home page focuses the skip link.
//
// Environment:
//   MUTUALIS_BIN      the binary (default $HOME/.cache/mutualis-target/debug/mutualis)
//   MUTUALIS_CHROMIUM the browser (default /usr/bin/chromium)
//   CI=true           a missing prerequisite fails the run instead of skipping it.
//
// Run: npm ci && npm test   (from tests/interop/browser)

import { after, before, describe, test } from 'node:test';
import { Server, sleep } from '../lib/server.mjs';
import { AXE_TAGS, BIN, CHROMIUM, CHROMIUM_ARGS, prerequisites } from './common.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';

const DEMO_PASSWORD = 'demo-mutualis-2026';
const DEMO_TOTP_SECRET = Buffer.from('mutualis-demo-totp!!');
const METROPOLIS_ADMIN = 'admin@metropole.demo';
const COMMUNE_ADMIN = 'admin@villeurbanne.demo';
const DEMO_INSEE = '69266'; // Villeurbanne
const READY_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 180_000;

// ---------------------------------------------------------------- prerequisites

const { skip: DESCRIBE_SKIP, axeSource: AXE_SOURCE } = prerequisites({
  suite: 'Mutualis browser accessibility tests',
  check: 'browser test prerequisites',
});

// ---------------------------------------------------------------- the server

// ---------------------------------------------------------------- axe

// The platform's CSP forbids inline scripts, so axe is not added as a <script>
// tag: it is evaluated through the DevTools protocol (not subject to the page's
// CSP), and the pages are tested with their real CSP in force.
async function runAxe(page) {
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) {
    await page.evaluate(AXE_SOURCE);
  }
  return page.evaluate(async (tags) => {
    const results = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((n) => n.target.map((t) => (Array.isArray(t) ? t.join(' >>> ') : t)).join(' ')),
      summary: v.nodes[0] ? v.nodes[0].failureSummary : '',
    }));
  }, AXE_TAGS);
}

function formatViolations(found) {
  const lines = [];
  for (const { label, url, violations } of found) {
    for (const v of violations) {
      lines.push(`- ${label} ${url}: ${v.id} (${v.impact}) ${v.help}`);
      for (const t of v.targets.slice(0, 10)) lines.push(`    target: ${t}`);
      if (v.targets.length > 10) lines.push(`    … and ${v.targets.length - 10} more`);
      if (v.summary) lines.push(`    ${v.summary.replace(/\n/g, '\n    ')}`);
      lines.push(`    ${v.helpUrl}`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- helpers

function pathname(url) {
  return new URL(url).pathname;
}

async function setLanguage(page, server, lang, back = '/') {
  await page.goto(`${server.base}/langue/${lang}?retour=${encodeURIComponent(back)}`);
  const htmlLang = await page.evaluate(() => document.documentElement.lang);
  assert.equal(htmlLang, lang, `after /langue/${lang} the page language should be ${lang}`);
}

/**
 * Visits each path, checks its status and language, runs axe; collects violations
 * and bad statuses in `report` rather than stopping at the first one.
 */
async function auditPages(page, server, paths, { label, lang, okStatuses = [200], report }) {
  for (const p of paths) {
    const url = `${server.base}${p}`;
    const response = await page.goto(url, { waitUntil: 'load' });
    const status = response ? response.status() : 0;
    const landed = pathname(page.url());
    if (!okStatuses.includes(status)) {
      report.problems.push(`- ${label} ${p}: HTTP ${status} (expected ${okStatuses.join(' or ')}), landed on ${page.url()}`);
    } else if (landed !== pathname(url)) {
      report.problems.push(`- ${label} ${p}: redirected to ${page.url()}`);
    }
    const htmlLang = await page.evaluate(() => document.documentElement.lang);
    if (htmlLang !== lang) report.problems.push(`- ${label} ${p}: <html lang="${htmlLang}">, expected "${lang}"`);
    const violations = await runAxe(page);
    report.visited.push({ label, path: p, status, violations: violations.length });
    if (violations.length > 0) report.violations.push({ label, url: p, violations });
  }
}

function newReport() {
  return { visited: [], violations: [], problems: [] };
}

function assertClean(report, what) {
  const parts = [];
  if (report.violations.length > 0) {
    const count = report.violations.reduce((n, f) => n + f.violations.length, 0);
    parts.push(`${count} axe violation(s) (${AXE_TAGS.join(', ')}):\n${formatViolations(report.violations)}`);
  }
  if (report.problems.length > 0) parts.push(`page problems:\n${report.problems.join('\n')}`);
  const summary = report.visited.map((v) => `${v.label} ${v.path} → ${v.status}, ${v.violations} violation(s)`).join('\n  ');
  console.log(`# ${what}: ${report.visited.length} page visit(s)\n  ${summary}`);
  if (parts.length > 0) assert.fail(`${what}:\n${parts.join('\n\n')}`);
}

async function login(page, server, email, { password = DEMO_PASSWORD, secondFactor = true } = {}) {
  await page.goto(`${server.base}/connexion`);
  const form = page.locator('form[action="/connexion"]');
  await form.locator('input[name="email"]').fill(email);
  await form.locator('input[name="password"]').fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/connexion', { timeout: 15_000 }).catch(() => {}),
    form.getByRole('button', { name: 'Se connecter' }).click(),
  ]);
  const logout = page.getByRole('button', { name: 'Se déconnecter' });
  const ok = await logout.isVisible();
  assert.ok(ok, `login as ${email} failed: no visible "Se déconnecter" button on ${page.url()}`);
  if (secondFactor) await passSecondFactor(page, server);
}

/** RFC 4648 base32 (the manual key of the enrolment page, spaces allowed). */
function fromBase32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/\s/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    assert.ok(v >= 0, `not base32: ${text}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) of `secret` (default: the demo staff key) at `step`. */
function totp(step, secret = DEMO_TOTP_SECRET) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/** ID-7: staff confirm the second factor at the first back-office page; the page is audited too. */
async function passSecondFactor(page, server) {
  await page.goto(`${server.base}/gestion`);
  if (pathname(page.url()) !== '/gestion/2fa') return;
  assert.deepEqual(await runAxe(page), [], 'the second-factor page should pass axe');
  const now = Math.floor(Date.now() / 1000 / 30);
  // A code serves once: a second sign-in of the same account within 30 s
  // takes the next step's code (accepted by the ±1 step window), after the
  // one-second back-off the refused code started.
  for (const [attempt, step] of [now, now + 1].entries()) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 1100));
    const form = page.locator('form[action="/gestion/2fa"]');
    await form.locator('input[name="code"]').fill(totp(step));
    await Promise.all([
      page.waitForEvent('framenavigated', { timeout: 15_000 }),
      form.getByRole('button', { name: 'Valider' }).click(),
    ]);
    await page.waitForLoadState('load');
    if (pathname(page.url()) !== '/gestion/2fa') return;
    if (attempt > 0) assert.deepEqual(await runAxe(page), [], 'the refused-code page should pass axe');
  }
  assert.fail(`the demo second factor was refused (${page.url()})`);
}

async function logout(page, server) {
  await Promise.all([
    page.waitForEvent('framenavigated', { timeout: 15_000 }),
    page.getByRole('button', { name: 'Se déconnecter' }).click(),
  ]);
  await page.waitForLoadState('load');
  assert.equal(await page.getByRole('button', { name: 'Se déconnecter' }).count(), 0,
    `after logout a "Se déconnecter" button is still on ${page.url()}`);
  const response = await page.goto(`${server.base}/gestion`);
  assert.equal(pathname(page.url()), '/connexion',
    `after logout /gestion should redirect to /connexion, landed on ${page.url()} (HTTP ${response && response.status()})`);
}

/** The first id linked from `list` as `list/<digits>`, or null. */
async function firstLinkedId(page, server, list) {
  const response = await page.goto(`${server.base}${list}`);
  if (!response || response.status() !== 200) return null;
  const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
  const m = hrefs.map((h) => new RegExp(`^${list}/(\\d+)$`).exec(h)).find(Boolean);
  return m ? m[1] : null;
}

/** The first account id linked from /gestion/comptes, or null. */
const firstAccountId = (page, server) => firstLinkedId(page, server, '/gestion/comptes');
/** The first agreement id linked from /gestion/conventions, or null. */
const firstAgreementId = (page, server) => firstLinkedId(page, server, '/gestion/conventions');
/** The first revenue order id linked from /gestion/titres, or null. */
const firstOrderId = (page, server) => firstLinkedId(page, server, '/gestion/titres');

/** The first help request reference linked from the inbox, or null. */
async function firstReference(page, server) {
  const response = await page.goto(`${server.base}/gestion/aide`);
  if (!response || response.status() !== 200) return null;
  const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
  const m = hrefs.map((h) => /^\/gestion\/aide\/(SAU-\d{4}-\d+)$/.exec(h)).find(Boolean);
  return m ? m[1] : null;
}

function resolvePath(pattern, params) {
  return pattern.replace(/\{(\w+)\}/g, (whole, name) => {
    if (params[name] === undefined || params[name] === null) {
      throw new Error(`no value for {${name}} in page pattern ${pattern}`);
    }
    return encodeURIComponent(params[name]);
  });
}

// ---------------------------------------------------------------- the tests

describe('Mutualis pages in headless Chromium with axe-core', { skip: DESCRIBE_SKIP, timeout: 15 * 60_000 }, () => {
  const server = new Server({ bin: BIN, prefix: 'mutualis-a11y-', readyTimeoutMs: READY_TIMEOUT_MS });
  let browser;
  let pages;

  const onExit = () => server.killNow('SIGKILL');
  const onSignal = (sig) => {
    server.killNow('SIGKILL');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  before(async () => {
    process.on('exit', onExit);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    const out = execFileSync(BIN, ['pages'], { encoding: 'utf8', timeout: 30_000 });
    pages = JSON.parse(out);
    assert.ok(Array.isArray(pages) && pages.length > 0, `\`mutualis pages\` printed no pages: ${out}`);
    for (const p of pages) {
      assert.ok(typeof p.path === 'string' && p.path.startsWith('/') && typeof p.staff === 'boolean',
        `bad entry in \`mutualis pages\`: ${JSON.stringify(p)}`);
    }

    await server.start();

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, { timeout: 120_000 });

  after(async () => {
    try {
      if (browser) await browser.close();
    } finally {
      await server.stop();
      process.off('exit', onExit);
    }
  });

  const publicPaths = () => pages.filter((p) => !p.staff).map((p) => p.path);
  const staffPatterns = () => pages.filter((p) => p.staff).map((p) => p.path);

  test('every public page passes axe, in French then in English', { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const paths = publicPaths();
      assert.ok(paths.length > 0, 'no public page listed');
      for (const p of paths) assert.ok(!/\{/.test(p), `public page with a parameter: ${p}`);
      const report = newReport();
      await auditPages(page, server, paths, { label: '[fr, anonymous]', lang: 'fr', report });
      await setLanguage(page, server, 'en');
      await auditPages(page, server, paths, { label: '[en, anonymous]', lang: 'en', report });
      assertClean(report, 'public pages');
    } finally {
      await context.close();
    }
  });

  test('the help form\'s answers pass axe: its problems, the request created, the tracking page with a file (SAU-1, SAU-4)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const report = newReport();
      // Problems: the form comes back with an alert listing them.
      await page.goto(`${server.base}/aide?service=toodego&category=voirie`);
      await page.fill('#subject', 'Lampadaire en panne');
      await page.fill('#message', 'Devant le 12 rue Francis de Pressensé.');
      await page.fill('#email', 'pas-une-adresse');
      await page.locator('#email').evaluate((e) => e.setAttribute('type', 'text'));
      await page.click('form.stack button[type=submit]');
      await page.waitForSelector('#erreurs');
      let violations = await runAxe(page);
      report.visited.push({ label: '[fr]', path: '/aide (problems)', violations: violations.length });
      if (violations.length) report.violations.push({ label: '[fr]', url: '/aide (problems)', violations });
      assert.equal(await page.inputValue('#subject'), 'Lampadaire en panne', 'what was typed is kept');
      // Created, with a file.
      await page.fill('#email', 'habitante@example.fr');
      await page.setInputFiles('#pieces', { name: 'plan.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%%EOF\n') });
      await page.click('form.stack button[type=submit]');
      await page.waitForSelector('a[href*="/aide/suivi/"]');
      violations = await runAxe(page);
      report.visited.push({ label: '[fr]', path: '/aide (created)', violations: violations.length });
      if (violations.length) report.violations.push({ label: '[fr]', url: '/aide (created)', violations });
      const tracking = await page.getAttribute('a[href*="/aide/suivi/"]', 'href');
      const trackingPath = new URL(tracking, server.base).pathname + new URL(tracking, server.base).search;
      await auditPages(page, server, [trackingPath], { label: '[fr, tracking]', lang: 'fr', report });
      assert.ok(await page.locator('ul.attachments a', { hasText: 'plan.pdf' }).count() === 1, 'the file is listed');
      await setLanguage(page, server, 'en', trackingPath);
      await auditPages(page, server, [trackingPath], { label: '[en, tracking]', lang: 'en', report });
      assertClean(report, 'help form answers and tracking page');
    } finally {
      await context.close();
    }
  });

  test('metropolis admin: log in through the form, every staff page passes axe, log out', { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await login(page, server, METROPOLIS_ADMIN);
      const id = await firstAccountId(page, server);
      assert.ok(id, 'no link to /gestion/comptes/<id> on /gestion/comptes for the metropolis admin');
      const agreement = await firstAgreementId(page, server);
      assert.ok(agreement, 'no link to /gestion/conventions/<id> for the metropolis admin (demo agreements missing?)');
      const order = await firstOrderId(page, server);
      assert.ok(order, 'no link to /gestion/titres/<id> for the metropolis admin (demo orders missing?)');
      const reference = await firstReference(page, server);
      assert.ok(reference, 'no help request in the metropolis inbox (demo requests missing?)');
      const paths = staffPatterns().map((p) => resolvePath(p, { id, agreement, order, reference, insee: DEMO_INSEE }));
      assert.ok(paths.length > 0, 'no staff page listed');
      const report = newReport();
      await auditPages(page, server, paths, { label: '[fr, metropolis admin]', lang: 'fr', report });
      await setLanguage(page, server, 'en', '/gestion');
      await auditPages(page, server, paths, { label: '[en, metropolis admin]', lang: 'en', report });
      await setLanguage(page, server, 'fr', '/gestion');
      assertClean(report, 'staff pages (metropolis admin)');
      await logout(page, server);
    } finally {
      await context.close();
    }
  });

  test('commune admin: every staff page passes axe (403 accepted)', { timeout: TEST_TIMEOUT_MS }, async () => {
    // An account id the commune admin can see, else the metropolis admin's first one.
    let id = null;
    let agreement = null;
    let order = null;
    {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await login(page, server, COMMUNE_ADMIN);
        id = await firstAccountId(page, server);
        agreement = await firstAgreementId(page, server);
        order = await firstOrderId(page, server);
      } finally {
        await context.close();
      }
    }
    if (!id) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await login(page, server, METROPOLIS_ADMIN);
        id = await firstAccountId(page, server);
      } finally {
        await context.close();
      }
    }
    assert.ok(id, 'could not resolve an account id for /gestion/comptes/{id}');
    assert.ok(agreement, 'the commune admin sees no agreement of the demo commune on /gestion/conventions');
    assert.ok(order, 'the commune admin sees no revenue order of the demo commune on /gestion/titres');

    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await login(page, server, COMMUNE_ADMIN);
      const reference = await firstReference(page, server);
      assert.ok(reference, 'no help request in Villeurbanne\'s inbox (demo requests missing?)');
      const paths = staffPatterns().map((p) => resolvePath(p, { id, agreement, order, reference, insee: DEMO_INSEE }));
      const report = newReport();
      await auditPages(page, server, paths, { label: '[fr, commune admin]', lang: 'fr', okStatuses: [200, 403], report });
      await setLanguage(page, server, 'en', '/gestion');
      await auditPages(page, server, paths, { label: '[en, commune admin]', lang: 'en', okStatuses: [200, 403], report });
      const home = report.visited.find((v) => v.path === '/gestion');
      if (home) assert.equal(home.status, 200, 'the commune admin should see /gestion');
      assertClean(report, 'staff pages (commune admin)');
    } finally {
      await context.close();
    }
  });

  test('axe really runs: a defect put into the page is reported', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Guards against a vacuous green run (axe not loaded, rules not selected…).
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${server.base}/connexion`);
      assert.deepEqual(await runAxe(page), [], 'the untouched login page should be clean');
      await page.evaluate(() => {
        document.querySelector('label[for="email"]').removeAttribute('for');
        document.documentElement.removeAttribute('lang');
        document.querySelector('h1').style.color = '#eeeeee'; // CSSOM, allowed by the CSP
      });
      const ids = (await runAxe(page)).map((v) => v.id).sort();
      assert.ok(ids.includes('label'), `axe should report the unlabelled e-mail field, got: ${ids.join(', ')}`);
      assert.ok(ids.includes('html-has-lang'), `axe should report the missing lang, got: ${ids.join(', ')}`);
      assert.ok(ids.includes('color-contrast'), `axe should report the low-contrast heading, got: ${ids.join(', ')}`);
    } finally {
      await context.close();
    }
  });

  test('a new staff member: the second-factor enrolment (QR code) and recovery-code pages pass axe', { timeout: TEST_TIMEOUT_MS }, async () => {
    const email = 'nouvel-admin@metropole.demo';
    const password = 'une phrase de passe pour les tests';
    server.cli(['admin', 'create', '--email', email, '--name', 'Nouvel Admin', '--password-stdin'], password);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await login(page, server, email, { password, secondFactor: false });
      await page.goto(`${server.base}/gestion`);
      assert.equal(pathname(page.url()), '/gestion/2fa', 'a staff page leads to enrolment first');
      assert.equal(await page.locator('figure.qr svg').count(), 1, 'the QR code is shown');
      assert.deepEqual(await runAxe(page), [], 'the enrolment page should pass axe');
      const secret = fromBase32(await page.locator('code.key').innerText());
      const form = page.locator('form[action="/gestion/2fa"]');
      await form.locator('input[name="code"]').fill(totp(Math.floor(Date.now() / 30_000), secret));
      await Promise.all([
        page.waitForEvent('framenavigated', { timeout: 15_000 }),
        form.getByRole('button', { name: 'Valider' }).click(),
      ]);
      await page.waitForLoadState('load');
      assert.equal(await page.locator('ul.codes li').count(), 10, 'ten recovery codes are shown once');
      assert.deepEqual(await runAxe(page), [], 'the recovery-codes page should pass axe');
      const res = await page.goto(`${server.base}/gestion`);
      assert.equal(res.status(), 200, 'enrolled: the back office opens');
    } finally {
      await context.close();
    }
  });

  test('keyboard: the first Tab on the home page focuses the skip link', { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${server.base}/`);
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const el = document.activeElement;
        const r = el.getBoundingClientRect();
        return {
          tag: el.tagName,
          text: (el.textContent || '').trim(),
          href: el.getAttribute('href'),
          onScreen: r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0
            && r.left < window.innerWidth && r.top < window.innerHeight,
        };
      });
      assert.equal(focused.tag, 'A', `first Tab focused <${focused.tag.toLowerCase()}> "${focused.text}", expected the skip link`);
      assert.equal(focused.text, 'Aller au contenu');
      assert.ok(focused.onScreen, 'the focused skip link should be visible on screen');
      // Following it moves to the main content.
      await page.keyboard.press('Enter');
      const target = focused.href.replace(/^#/, '');
      await page.waitForFunction((id) => document.activeElement && document.activeElement.id === id, target, { timeout: 5_000 });
      const mainTag = await page.evaluate(() => document.activeElement.tagName);
      assert.equal(mainTag, 'MAIN', 'the skip link should lead to <main>');
    } finally {
      await context.close();
    }
  });
});
