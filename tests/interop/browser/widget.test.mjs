// The help widget (SAU-1, SAU-6) on a service's page, in a real (headless)
// Chromium with axe-core.
//
// Starts the `mutualis` binary (--demo) and a fake service: a small node HTTP
// server on another loopback port whose pages embed the widget with one
// <script> tag, under a strict CSP that allows only the platform's origin
// for scripts, styles and connections (so the widget must need no inline
// code or style). Then checks:
//   - axe (WCAG 2.0/2.1 A and AA) finds nothing with the widget closed, with
//     its dialog open, with the error summary shown, with the confirmation;
//   - the keyboard: Tab reaches the button, Enter opens the dialog, focus is
//     in it and stays in it (Tab and Shift+Tab), Escape closes it and focus
//     goes back to the button; the rest of the page is inert meanwhile;
//   - the FAQ: a search, an answer rated, the thanks;
//   - the form: a refused submission (the API's messages, focus on them,
//     nothing typed lost), a network failure, a refused file, then a request
//     recorded with an attachment, routed to the commune, whose page address
//     the API kept;
//   - English when the page is in English; an unknown service;
//   - the plain link for pages without JavaScript.
//
// Environment:
//   MUTUALIS_BIN      the binary (default $HOME/.cache/mutualis-target/debug/mutualis)
//   MUTUALIS_CHROMIUM the browser (default /usr/bin/chromium)
//   CI=true           a missing prerequisite fails the run instead of skipping it.
//
// Run: npm ci && npm test   (from tests/interop/browser)

import { after, before, describe, test } from 'node:test';
import { Server, freePort } from '../lib/server.mjs';
import { AXE_TAGS, BIN, CHROMIUM, CHROMIUM_ARGS, prerequisites } from './common.mjs';
import assert from 'node:assert/strict';
import http from 'node:http';

const READY_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;
const DEMO_INSEE = '69266'; // Villeurbanne, which has joined Toodego in the demo

// ---------------------------------------------------------------- prerequisites

const { skip: DESCRIBE_SKIP, axeSource: AXE_SOURCE } = prerequisites({
  suite: 'Mutualis help widget browser tests',
  check: 'widget test prerequisites',
  build: 'cargo build -p server',
});

// ---------------------------------------------------------------- axe

// Evaluated through the DevTools protocol, so the fake page's CSP (which
// would refuse an inline <script>) stays in force for everything else. axe
// itself adds an inline <style> while it runs, which that CSP refuses: the
// violations reported during its run are axe's and are forgotten (the widget
// is idle meanwhile), so that assertNoCspViolation sees the widget's only.
async function runAxe(page) {
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const before = window.cspViolations ? window.cspViolations.length : 0;
    const results = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    await new Promise((r) => setTimeout(r, 50)); // the violation events are dispatched as tasks
    if (window.cspViolations) window.cspViolations.length = before;
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

async function assertAxeClean(page, what) {
  const violations = await runAxe(page);
  const lines = [];
  for (const v of violations) {
    lines.push(`- ${v.id} (${v.impact}) ${v.help}`);
    for (const t of v.targets.slice(0, 10)) lines.push(`    target: ${t}`);
    if (v.summary) lines.push(`    ${v.summary.replace(/\n/g, '\n    ')}`);
    lines.push(`    ${v.helpUrl}`);
  }
  console.log(`# axe, ${what}: ${violations.length} violation(s)`);
  assert.equal(violations.length, 0, `axe violations (${AXE_TAGS.join(', ')}) ${what}:\n${lines.join('\n')}`);
}

// ---------------------------------------------------------------- the fake service

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A service's pages: each embeds the widget (attributes per page) under a CSP
 * that lets in nothing but the platform's scripts, styles and connections.
 */
class FakeService {
  constructor(platform) {
    this.platform = platform;
    this.server = null;
  }

  csp() {
    const p = this.platform;
    return `default-src 'none'; script-src ${p}; style-src ${p}; connect-src ${p}; img-src 'none'; `
      + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  }

  page(url, { lang = 'fr', widget = {}, inline = false }) {
    const attrs = Object.entries(widget).map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`).join('');
    const fr = lang === 'fr';
    const noJs = `${this.platform}/aide?service=${encodeURIComponent(widget.service || '')}&page=${encodeURIComponent(url)}`;
    return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${fr ? 'Toodego — Demander un acte d\'état civil' : 'Toodego — Civil status records'}</title>
</head>
<body>
<main>
<h1>${fr ? 'Demander un acte d\'état civil' : 'Ask for a civil status record'}</h1>
<p>${fr ? 'Vous pouvez demander en ligne une copie ou un extrait d\'acte de naissance, de mariage ou de décès.' : 'You can ask online for a copy of a birth, marriage or death certificate.'}</p>
<p><a href="/demarches">${fr ? 'Toutes les démarches' : 'All procedures'}</a></p>
<noscript><p><a href="${escapeHtml(noJs)}">${fr ? 'Besoin d\'aide ?' : 'Need help?'}</a></p></noscript>
</main>
${inline ? '<script>window.inlineScriptRan = true;</script>\n' : ''}<script src="${this.platform}/aide/widget.js"${attrs} defer></script>
</body>
</html>
`;
  }

  async start() {
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    const routes = {
      '/demarches/etat-civil': { widget: { service: 'toodego', category: 'etat-civil', commune: DEMO_INSEE } },
      '/en/civil-status': { lang: 'en', widget: { service: 'toodego', category: 'etat-civil', commune: DEMO_INSEE } },
      '/service-inconnu': { widget: { service: 'inconnu' } },
      '/controle-csp': { inline: true, widget: { service: 'toodego' } },
    };
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url, this.base);
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
      res.end(this.page(`${this.base}${url.pathname}${url.search}`, route));
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

const OPEN_FR = "Besoin d'aide ?";

/** A page that records the CSP violations and script errors it meets. */
async function newPage(browser, options = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample });
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return { context, page };
}

async function assertNoCspViolation(page) {
  const violations = await page.evaluate(() => window.cspViolations);
  assert.deepEqual(violations, [], 'the widget needs nothing the service page\'s CSP forbids');
  assert.deepEqual(page.errors, [], 'no script error on the page');
}

/** The widget's button, once the script has added it. */
async function launcher(page, name = OPEN_FR) {
  const button = page.getByRole('button', { name, exact: true });
  await button.waitFor({ state: 'visible' });
  return button;
}

/** Opens the dialog with a click and waits for the service's data (categories, FAQ). */
async function openDialog(page, name = OPEN_FR) {
  await (await launcher(page, name)).click();
  const dialog = page.getByRole('dialog', { name, exact: true });
  await dialog.waitFor({ state: 'visible' });
  await waitLoaded(page);
  return dialog;
}

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const d = document.querySelector('[role="dialog"]');
    return d && d.querySelectorAll('select')[0] && d.querySelectorAll('select')[0].options.length > 1
      && d.querySelectorAll('details').length > 0;
  }, null, { timeout: 15_000 });
}

/** Where the focus is: in the dialog or not, and a short description. */
function focusState(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const dialog = document.querySelector('[role="dialog"]');
    const name = el ? (el.getAttribute('aria-label') || el.id || (el.textContent || '').trim().slice(0, 40)) : '';
    return {
      inDialog: !!(dialog && el && dialog.contains(el) && el !== dialog),
      desc: el ? `<${el.tagName.toLowerCase()}> ${name}` : 'nothing',
      isLauncher: !!(el && el.tagName === 'BUTTON' && !(dialog && dialog.contains(el)) && (el.textContent || '').trim() === "Besoin d'aide ?"),
    };
  });
}

// ---------------------------------------------------------------- the tests

describe('Mutualis help widget on a service page, in headless Chromium with axe-core', { skip: DESCRIBE_SKIP, timeout: 10 * 60_000 }, () => {
  const platform = new Server({ bin: BIN, prefix: 'mutualis-widget-', readyTimeoutMs: READY_TIMEOUT_MS });
  let service;
  let browser;
  let pageUrl; // the fake service's page with the widget

  const onExit = () => platform.killNow('SIGKILL');
  const onSignal = (sig) => {
    platform.killNow('SIGKILL');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  before(async () => {
    process.on('exit', onExit);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    await platform.start();
    service = new FakeService(platform.base);
    await service.start();
    pageUrl = `${service.base}/demarches/etat-civil?origine=test`;
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

  test('the fake service page\'s CSP is in force: an inline script is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${service.base}/controle-csp`);
      await launcher(page);
      assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, 'the inline script must not run');
      const violations = await page.evaluate(() => window.cspViolations);
      assert.equal(violations.length, 1, `one violation expected (the inline script): ${JSON.stringify(violations)}`);
      assert.match(violations[0].directive, /^script-src/);
      assert.equal(violations[0].blocked, 'inline');
    } finally {
      await context.close();
    }
  });

  test('closed: the button is there, styled from the platform, and the page passes axe', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(pageUrl);
      const button = await launcher(page);
      const look = await button.evaluate((el) => {
        const s = getComputedStyle(el);
        return { position: s.position, style: el.hasAttribute('style') };
      });
      assert.equal(look.position, 'fixed', 'the widget\'s style sheet is applied (button fixed at the bottom right)');
      assert.equal(look.style, false, 'no style attribute');
      const sheets = await page.evaluate(() => [...document.querySelectorAll('link[rel="stylesheet"]')].map((l) => l.href));
      assert.deepEqual(sheets, [`${platform.base}/aide/widget.css`]);
      assert.equal(await page.evaluate(() => document.querySelectorAll('[style]').length), 0, 'no style attribute anywhere');
      assert.equal(await page.getByRole('dialog').count(), 0, 'no dialog shown before the click');
      await assertAxeClean(page, 'with the widget closed');
      await assertNoCspViolation(page);
    } finally {
      await context.close();
    }
  });

  test('keyboard: Tab to the button, Enter opens, focus trapped, Escape closes and restores focus', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(pageUrl);
      await launcher(page);
      let reached = false;
      for (let i = 0; i < 10 && !reached; i += 1) {
        await page.keyboard.press('Tab');
        reached = (await focusState(page)).isLauncher;
      }
      assert.ok(reached, 'Tab reaches the "Besoin d\'aide ?" button');
      await page.keyboard.press('Enter');

      const dialog = page.getByRole('dialog', { name: OPEN_FR, exact: true });
      await dialog.waitFor({ state: 'visible' });
      assert.equal(await dialog.getAttribute('aria-modal'), 'true');
      assert.ok((await focusState(page)).inDialog, 'focus moves into the dialog');
      assert.equal(await page.evaluate(() => document.querySelector('main').inert), true, 'the page behind is inert');
      await waitLoaded(page);
      assert.ok((await focusState(page)).inDialog, 'focus still in the dialog once its data is loaded');
      assert.equal(await dialog.getByRole('button', { name: 'Fermer', exact: true }).count(), 1, 'a close button named "Fermer"');

      const stopList = await page.evaluate(() => {
        const d = document.querySelector('[role="dialog"]');
        return [...d.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
          .filter((el) => !el.disabled && el.checkVisibility({ visibilityProperty: true }))
          .map((el) => `<${el.tagName.toLowerCase()}> ${el.id || (el.textContent || '').trim().slice(0, 40)}`);
      });
      const stops = stopList.length;
      assert.ok(stops >= 8, `the dialog has its fields and buttons (${stops} stops)`);
      for (const key of ['Tab', 'Shift+Tab']) {
        const seen = new Set();
        for (let i = 0; i < stops + 5; i += 1) {
          await page.keyboard.press(key);
          const f = await focusState(page);
          assert.ok(f.inDialog, `${key} number ${i + 1} left the dialog (focus on ${f.desc})`);
          seen.add(f.desc);
        }
        assert.ok(seen.size >= stops, `${key} went round every stop of the dialog (${seen.size} seen of ${stops}): `
          + `seen ${[...seen].join(', ')}; stops ${stopList.join(', ')}`);
      }

      await assertAxeClean(page, 'with the dialog open');

      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      const after = await focusState(page);
      assert.ok(after.isLauncher, `after Escape focus is back on the button (it is on ${after.desc})`);
      assert.equal(await page.evaluate(() => document.querySelector('main').inert), false, 'the page is no longer inert');
      await assertNoCspViolation(page);
    } finally {
      await context.close();
    }
  });

  test('FAQ: search "naissance", rate the answer, thanks', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(pageUrl);
      const dialog = await openDialog(page);
      assert.equal(await dialog.getByRole('heading', { name: 'Questions fréquentes' }).count(), 1);
      const search = dialog.getByLabel('Rechercher dans les questions fréquentes', { exact: true });
      await search.fill('naissance');
      await search.press('Enter');
      await page.waitForFunction(() => {
        const entries = [...document.querySelectorAll('[role="dialog"] details')];
        return entries.length > 0 && entries.every((d) => /naissance/i.test(d.textContent));
      });
      const entry = dialog.locator('details', { hasText: 'acte de naissance' }).first();
      await entry.locator('summary').click();
      assert.match(await entry.innerText(), /Demandez-la en ligne/);
      await entry.getByRole('group', { name: 'Cette réponse vous a-t-elle aidé ?' }).getByRole('button', { name: 'Oui', exact: true }).click();
      const thanks = entry.getByText('Merci pour votre avis.', { exact: true });
      await thanks.waitFor({ state: 'visible' });
      assert.equal(await thanks.getAttribute('aria-live'), 'polite', 'the thanks is in a polite live region');
      assert.ok((await focusState(page)).inDialog, 'focus stays in the dialog after the rating');
      const rated = platform.requests(200).filter((l) => /^POST \/api\/v1\/help\/faq\/\d+\/feedback → 204$/.test(l));
      assert.equal(rated.length, 1, `the rating reached the API (${platform.requests(10).join('; ')})`);
      await assertAxeClean(page, 'after rating an FAQ answer');
      await assertNoCspViolation(page);
    } finally {
      await context.close();
    }
  });

  test('form: refused without e-mail (nothing lost), network failure, refused file, then recorded and routed to the commune', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(pageUrl);
      const dialog = await openDialog(page);
      assert.equal(await dialog.getByRole('heading', { name: 'Poser votre question' }).count(), 1);
      const category = dialog.getByLabel('Catégorie', { exact: true });
      const subject = dialog.getByLabel('Objet', { exact: true });
      const message = dialog.getByLabel('Votre message', { exact: true });
      const email = dialog.getByLabel('Adresse e-mail (pour recevoir la réponse)', { exact: true });
      const commune = dialog.getByLabel('Votre commune', { exact: true });
      const files = dialog.getByLabel('Joindre des fichiers (facultatif)', { exact: true });
      const submit = dialog.getByRole('button', { name: 'Envoyer ma demande', exact: true });
      assert.equal(await category.inputValue(), 'etat-civil', 'data-category preselects the category');
      assert.equal(await commune.inputValue(), DEMO_INSEE, 'data-commune preselects the commune');
      assert.equal(await commune.locator('option:checked').innerText(), 'Villeurbanne');
      assert.equal(await commune.locator('option').first().innerText(), 'Hors Métropole ou non précisée');
      assert.equal(await files.getAttribute('multiple'), '');
      assert.match(await files.evaluate((el) => el.getAttribute('aria-describedby')
        .split(' ').map((id) => document.getElementById(id).textContent).join(' ')),
      /5 fichiers au plus, 10 Mo chacun : PDF, PNG, JPEG ou texte\./);

      const SUBJECT = 'Copie d\'acte de naissance non reçue';
      const MESSAGE = 'Bonjour,\nj\'ai demandé une copie intégrale le 3 novembre et je ne l\'ai pas reçue.';
      await subject.fill(SUBJECT);
      await message.fill(MESSAGE);
      await submit.click();

      // 422: the API's problems, in an alert that has the focus.
      const alert = dialog.getByRole('alert');
      await alert.filter({ hasText: 'Adresse e-mail' }).waitFor({ state: 'visible' });
      const focused = await page.evaluate(() => document.activeElement.getAttribute('role'));
      assert.equal(focused, 'alert', 'focus moves to the error summary');
      assert.equal(await email.getAttribute('aria-invalid'), 'true', 'the e-mail field is marked invalid');
      assert.equal(await subject.getAttribute('aria-invalid'), null, 'the subject is not');
      assert.equal(await subject.inputValue(), SUBJECT, 'the subject typed is kept');
      assert.equal(await message.inputValue(), MESSAGE, 'the message typed is kept');
      assert.equal(await category.inputValue(), 'etat-civil');
      await assertAxeClean(page, 'with the error summary shown');

      // A network failure: said in the alert, the form kept.
      await email.fill('camille.martin@example.fr');
      const endpoint = `${platform.base}/api/v1/help-requests`;
      await page.route(endpoint, (route) => route.abort('internetdisconnected'));
      await submit.click();
      await alert.filter({ hasText: 'Impossible de joindre' }).waitFor({ state: 'visible' });
      assert.equal(await subject.inputValue(), SUBJECT);
      assert.equal(await email.inputValue(), 'camille.martin@example.fr');
      await page.unroute(endpoint);

      // A file the platform refuses (its type is read from its bytes, not its name).
      await files.setInputFiles({
        name: 'programme.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00]),
      });
      await submit.click();
      await alert.filter({ hasText: 'programme.pdf' }).waitFor({ state: 'visible' });
      assert.equal(await files.getAttribute('aria-invalid'), 'true', 'the files field is marked invalid');
      assert.equal(await email.getAttribute('aria-invalid'), null, 'the e-mail, now given, is no longer marked');
      assert.equal(await subject.inputValue(), SUBJECT);
      assert.equal(await message.inputValue(), MESSAGE);

      // 201: recorded, with a PDF.
      await files.setInputFiles({
        name: 'justificatif.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n'),
      });
      await submit.click();
      const confirmation = dialog.getByRole('status');
      await confirmation.filter({ hasText: 'SAU-' }).waitFor({ state: 'visible' });
      assert.equal(await page.evaluate(() => document.activeElement.getAttribute('role')), 'status', 'focus moves to the confirmation');
      const text = await confirmation.innerText();
      const reference = (/SAU-\d{4}-\d+/.exec(text) || [])[0];
      assert.ok(reference, `a reference in the confirmation: ${text}`);
      assert.match(text, new RegExp(`Votre demande est enregistrée sous la référence ${reference}`));
      assert.match(text, /la commune de Villeurbanne/, `the commune answers: ${text}`);
      assert.match(text, /e-mail/);
      assert.equal(await submit.isVisible(), false, 'the form gave way to the confirmation');
      const link = confirmation.getByRole('link', { name: new RegExp(reference) });
      const href = await link.getAttribute('href');
      assert.equal(await link.getAttribute('target'), '_blank');
      assert.match(await link.getAttribute('rel'), /\bnoopener\b/);
      const tracking = new URL(href);
      assert.equal(tracking.origin, platform.base);
      assert.equal(tracking.pathname, `/aide/suivi/${reference}`);
      const token = tracking.searchParams.get('jeton');
      assert.ok(token, `a secret in the tracking link: ${href}`);
      await assertAxeClean(page, 'with the confirmation shown');
      await assertNoCspViolation(page);

      // What the platform kept: the page address, the routing.
      const res = await fetch(`${platform.base}/api/v1/help-requests/${reference}?token=${encodeURIComponent(token)}`);
      const body = await res.text();
      assert.equal(res.status, 200, body);
      const kept = JSON.parse(body);
      assert.equal(kept.reference, reference);
      assert.equal(kept.page_url, pageUrl, 'the page address was sent as `page`');
      assert.equal(kept.routed_to && kept.routed_to.kind, 'commune', `routed to the commune: ${body}`);
      const page2 = await fetch(href);
      assert.equal(page2.status, 200, 'the tracking link opens');
      assert.match(await page2.text(), new RegExp(reference));
    } finally {
      await context.close();
    }
  });

  test('English page: the widget speaks English, the API\'s English messages shown', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${service.base}/en/civil-status`);
      const dialog = await openDialog(page, 'Need help?');
      assert.equal(await dialog.getByRole('button', { name: 'Close', exact: true }).count(), 1);
      assert.equal(await dialog.getByLabel('Search the frequently asked questions', { exact: true }).count(), 1);
      await dialog.getByRole('button', { name: 'Send my request', exact: true }).click();
      const alert = dialog.getByRole('alert');
      await alert.filter({ hasText: 'E-mail address' }).waitFor({ state: 'visible' });
      assert.doesNotMatch(await alert.innerText(), /Adresse e-mail/, 'no French message on an English page');
      await assertAxeClean(page, 'in English with the error summary shown');
      await page.keyboard.press('Escape');
      assert.equal((await page.evaluate(() => document.activeElement.textContent)).trim(), 'Need help?');
      await assertNoCspViolation(page);
    } finally {
      await context.close();
    }
  });

  test('an unknown service: the dialog says the form is unavailable and links to the platform\'s form', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${service.base}/service-inconnu`);
      await (await launcher(page)).click();
      const dialog = page.getByRole('dialog', { name: OPEN_FR, exact: true });
      const alert = dialog.getByRole('alert');
      await alert.filter({ hasText: 'momentanément indisponible' }).waitFor({ state: 'visible' });
      const href = await alert.getByRole('link').getAttribute('href');
      assert.ok(href.startsWith(`${platform.base}/aide?service=inconnu&page=`), href);
      await assertAxeClean(page, 'with an unknown service');
    } finally {
      await context.close();
    }
  });

  test('without JavaScript: the <noscript> link opens the platform\'s form with the context', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, page } = await newPage(browser, { javaScriptEnabled: false });
    try {
      await page.goto(pageUrl);
      const link = page.getByRole('link', { name: OPEN_FR, exact: true });
      const href = await link.getAttribute('href');
      assert.equal(href, `${platform.base}/aide?service=toodego&page=${encodeURIComponent(pageUrl)}`);
      const response = await page.goto(href);
      assert.equal(response.status(), 200);
      assert.equal(await page.getByRole('heading', { name: /Questions fréquentes/ }).count(), 1, 'the service\'s FAQ is shown');
      assert.equal(await page.getByLabel('Objet', { exact: true }).count(), 1, 'the form is shown');
      assert.equal(await page.getByRole('button', { name: 'Envoyer ma demande', exact: true }).count(), 1);
      const pages = await page.locator('form[enctype="multipart/form-data"] input[name="page"]').evaluateAll((els) => els.map((e) => e.value));
      assert.deepEqual(pages, [pageUrl], 'the page address goes with the form');
    } finally {
      await context.close();
    }
  });
});
