/*
 * Mutualis — the help widget (SAU-1, SAU-6).
 *
 * A service adds one tag to its pages:
 *   <script src="https://PLATFORM/aide/widget.js" data-service="toodego"
 *           data-category="voirie" data-email="…" data-commune="69266" defer></script>
 * and gets a "Besoin d'aide ?" button that opens an accessible modal dialog:
 * the service's FAQ (searchable, each answer rated), then the help form.
 * It talks to the platform's public JSON API only (CORS-simple requests,
 * no cookies), adds no inline script or style (the service's CSP needs the
 * platform's origin in script-src, style-src and connect-src, nothing more).
 * Plain JavaScript, no dependencies, no build step. See docs/widget.md.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || !script.src || window.mutualisAide) return;
  window.mutualisAide = true;

  var ORIGIN = new URL(script.src, document.baseURI).origin;
  var SERVICE = (script.getAttribute('data-service') || '').trim();
  var CATEGORY = (script.getAttribute('data-category') || '').trim();
  var EMAIL = (script.getAttribute('data-email') || '').trim();
  var COMMUNE = (script.getAttribute('data-commune') || '').trim();
  var P = 'mutualis-aide-';
  var MAX_FILES = 5;
  var MAX_BYTES = 10 * 1024 * 1024;

  var TEXTS = {
    fr: {
      open: "Besoin d'aide ?",
      title: "Besoin d'aide ?",
      close: 'Fermer',
      intro: "Consultez d'abord les questions fréquentes. Si vous n'y trouvez pas la réponse, écrivez-nous : votre demande est transmise à l'organisme compétent (la Métropole ou votre commune). Aucun compte n'est nécessaire.",
      service: 'Service : ',
      faqTitle: 'Questions fréquentes',
      search: 'Rechercher dans les questions fréquentes',
      searchButton: 'Rechercher',
      loading: 'Chargement…',
      found: function (n) { return n === 1 ? '1 question fréquente.' : n + ' questions fréquentes.'; },
      none: 'Aucune question fréquente ne correspond.',
      faqError: "Les questions fréquentes n'ont pas pu être chargées.",
      helpful: 'Cette réponse vous a-t-elle aidé ?',
      yes: 'Oui',
      no: 'Non',
      thanks: 'Merci pour votre avis.',
      thanksError: "Votre avis n'a pas pu être envoyé. Réessayez plus tard.",
      formTitle: 'Poser votre question',
      notFound: "Vous n'avez pas trouvé de réponse ? Écrivez-nous.",
      category: 'Catégorie',
      choose: '— Choisissez —',
      subject: 'Objet',
      message: 'Votre message',
      email: 'Adresse e-mail (pour recevoir la réponse)',
      commune: 'Votre commune',
      noCommune: 'Hors Métropole ou non précisée',
      communeHint: 'Certaines demandes sont traitées par votre commune.',
      files: 'Joindre des fichiers (facultatif)',
      filesHint: '5 fichiers au plus, 10 Mo chacun : PDF, PNG, JPEG ou texte.',
      required: 'Champs obligatoires : catégorie, objet, message et adresse e-mail.',
      submit: 'Envoyer ma demande',
      sending: 'Envoi de votre demande…',
      notSent: "Votre demande n'a pas été envoyée :",
      tooMany: 'Pièces jointes : 5 fichiers au plus.',
      tooBig: function (name) { return 'Pièces jointes : « ' + name + ' » dépasse 10 Mo.'; },
      network: "Impossible de joindre le service d'aide. Vérifiez votre connexion et réessayez : ce que vous avez saisi est conservé.",
      server: function (status) { return "Le service d'aide n'a pas pu enregistrer votre demande (erreur " + status + '). Réessayez plus tard : ce que vous avez saisi est conservé.'; },
      tooLarge: 'Les fichiers joints sont trop volumineux (10 Mo chacun au plus).',
      unavailable: "Le formulaire d'aide est momentanément indisponible.",
      fallback: "Ouvrir le formulaire d'aide sur le site de la plateforme",
      recorded: 'Votre demande est enregistrée sous la référence ',
      byCommune: function (name) {
        if (!name) return 'Elle sera traitée par votre commune.';
        return 'Elle sera traitée par la commune ' + (/^[aeiouyàâäéèêëîïôöûüœh]/i.test(name) ? "d'" : 'de ') + name + '.';
      },
      byMetropolis: 'Elle sera traitée par la Métropole.',
      emailSent: function (address) { return 'Un e-mail de confirmation a été envoyé à ' + address + ', avec le lien de suivi.'; },
      track: 'Suivre ma demande ',
      newTab: ' (nouvel onglet)',
      again: 'Poser une autre question',
      fieldError: 'Erreur : '
    },
    en: {
      open: 'Need help?',
      title: 'Need help?',
      close: 'Close',
      intro: 'Look at the frequently asked questions first. If you do not find the answer, write to us: your request goes to the competent body (the metropolis or your commune). No account is needed.',
      service: 'Service: ',
      faqTitle: 'Frequently asked questions',
      search: 'Search the frequently asked questions',
      searchButton: 'Search',
      loading: 'Loading…',
      found: function (n) { return n === 1 ? '1 frequently asked question.' : n + ' frequently asked questions.'; },
      none: 'No frequently asked question matches.',
      faqError: 'The frequently asked questions could not be loaded.',
      helpful: 'Did this answer your question?',
      yes: 'Yes',
      no: 'No',
      thanks: 'Thank you for your feedback.',
      thanksError: 'Your feedback could not be sent. Please try again later.',
      formTitle: 'Ask your question',
      notFound: 'No answer found? Write to us.',
      category: 'Category',
      choose: '— Choose —',
      subject: 'Subject',
      message: 'Your message',
      email: 'E-mail address (to receive the answer)',
      commune: 'Your commune',
      noCommune: 'Outside the metropolis or not given',
      communeHint: 'Some requests are handled by your commune.',
      files: 'Attach files (optional)',
      filesHint: 'At most 5 files, 10 MB each: PDF, PNG, JPEG or text.',
      required: 'Required fields: category, subject, message and e-mail address.',
      submit: 'Send my request',
      sending: 'Sending your request…',
      notSent: 'Your request was not sent:',
      tooMany: 'Attachments: at most 5 files.',
      tooBig: function (name) { return 'Attachments: “' + name + '” is larger than 10 MB.'; },
      network: 'The help service could not be reached. Check your connection and try again: what you typed is kept.',
      server: function (status) { return 'The help service could not record your request (error ' + status + '). Please try again later: what you typed is kept.'; },
      tooLarge: 'The attached files are too large (10 MB each at most).',
      unavailable: 'The help form is unavailable at the moment.',
      fallback: "Open the help form on the platform's site",
      recorded: 'Your request is recorded under the reference ',
      byCommune: function (name) { return name ? 'It will be handled by the commune of ' + name + '.' : 'It will be handled by your commune.'; },
      byMetropolis: 'It will be handled by the Metropolis.',
      emailSent: function (address) { return 'A confirmation e-mail was sent to ' + address + ', with the tracking link.'; },
      track: 'Follow my request ',
      newTab: ' (new tab)',
      again: 'Ask another question',
      fieldError: 'Error: '
    }
  };

  var LANG = 'fr';
  var T = TEXTS.fr;

  // ------------------------------------------------------------ DOM helpers

  /** An element: `attrs` are attributes (false/null left out), `children` nodes or strings. */
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === false || value === null || value === undefined) return;
        el.setAttribute(name, value === true ? '' : String(value));
      });
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    if (children === undefined || children === null) return el;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function api(path) {
    return ORIGIN + '/api/v1/help' + path;
  }

  /** fetch without cookies; resolves to {status, body} (body: parsed JSON or null). */
  function call(url, options) {
    var init = options || {};
    init.credentials = 'omit';
    init.mode = 'cors';
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        return { status: response.status, body: body };
      });
    });
  }

  // ------------------------------------------------------------ state

  var launcher, backdrop, dialog, heading;
  var faqStatus, faqList, faqSearch;
  var form, summary, progress, confirmation, fields = {};
  var serviceInfo = null;
  var loaded = false;
  var sending = false;
  var madeInert = [];
  var seq = 0;

  // ------------------------------------------------------------ building

  function field(id, label, control, hint) {
    var hintEl = hint ? h('p', { 'class': P + 'hint', id: P + id + '-hint' }, hint) : null;
    if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
    var errorEl = h('p', { 'class': P + 'field-error', id: P + id + '-error', hidden: true });
    fields[id] = { control: control, hint: hintEl, error: errorEl };
    return h('div', { 'class': P + 'field' }, [
      h('label', { 'for': control.id, 'class': P + 'label' }, label),
      hintEl, errorEl, control
    ]);
  }

  function build() {
    launcher = h('button', {
      type: 'button', 'class': P + 'launcher', 'aria-haspopup': 'dialog', lang: LANG
    }, T.open);
    launcher.addEventListener('click', open);

    heading = h('h2', { id: P + 'title', 'class': P + 'title', tabindex: '-1' }, T.title);
    var close = h('button', { type: 'button', 'class': P + 'close' }, T.close);
    close.addEventListener('click', hide);

    // FAQ (SAU-6).
    faqSearch = h('input', { type: 'search', id: P + 'q', name: 'q', 'class': P + 'input', autocomplete: 'off' });
    var searchForm = h('form', { role: 'search', 'class': P + 'search', novalidate: true }, [
      h('div', { 'class': P + 'field' }, [
        h('label', { 'for': faqSearch.id, 'class': P + 'label' }, T.search),
        h('div', { 'class': P + 'search-row' }, [
          faqSearch,
          h('button', { type: 'submit', 'class': P + 'button ' + P + 'secondary' }, T.searchButton)
        ])
      ])
    ]);
    searchForm.addEventListener('submit', function (event) {
      event.preventDefault();
      loadFaq(faqSearch.value.trim());
    });
    faqStatus = h('p', { 'class': P + 'status', 'aria-live': 'polite' });
    faqList = h('div', { 'class': P + 'entries' });
    var faqSection = h('section', { 'class': P + 'section', 'aria-labelledby': P + 'faq-title' }, [
      h('h3', { id: P + 'faq-title', 'class': P + 'subtitle' }, T.faqTitle),
      searchForm, faqStatus, faqList
    ]);

    // The form (SAU-1).
    var category = h('select', { id: P + 'category', name: 'category', 'class': P + 'input', required: true }, [
      h('option', { value: '' }, T.choose)
    ]);
    var subject = h('input', { type: 'text', id: P + 'subject', name: 'subject', 'class': P + 'input', maxlength: '200', required: true });
    var message = h('textarea', { id: P + 'message', name: 'message', 'class': P + 'input', rows: '6', required: true });
    var email = h('input', { type: 'email', id: P + 'email', name: 'email', 'class': P + 'input', autocomplete: 'email', required: true, value: EMAIL || false });
    var commune = h('select', { id: P + 'commune', name: 'commune', 'class': P + 'input' }, [
      h('option', { value: '' }, T.noCommune)
    ]);
    if (COMMUNE) {
      // Until the list arrives, the given code stays selected.
      commune.appendChild(h('option', { value: COMMUNE, selected: true }, COMMUNE));
    }
    var files = h('input', {
      type: 'file', id: P + 'attachments', name: 'attachments', 'class': P + 'file', multiple: true,
      accept: '.pdf,.png,.jpg,.jpeg,.txt,application/pdf,image/png,image/jpeg,text/plain'
    });
    summary = h('div', { 'class': P + 'summary', role: 'alert', tabindex: '-1', id: P + 'summary' });
    progress = h('p', { 'class': P + 'status', 'aria-live': 'polite' });
    var submit = h('button', { type: 'submit', 'class': P + 'button' }, T.submit);
    form = h('form', { 'class': P + 'form', novalidate: true }, [
      h('p', { 'class': P + 'hint' }, T.required),
      field('category', T.category, category),
      field('subject', T.subject, subject),
      field('message', T.message, message),
      field('email', T.email, email),
      field('commune', T.commune, commune, T.communeHint),
      field('attachments', T.files, files, T.filesHint),
      submit, progress
    ]);
    form.addEventListener('submit', send);
    confirmation = h('div', { 'class': P + 'confirmation', role: 'status', tabindex: '-1', hidden: true });
    var formSection = h('section', { 'class': P + 'section', 'aria-labelledby': P + 'form-title' }, [
      h('h3', { id: P + 'form-title', 'class': P + 'subtitle' }, T.formTitle),
      h('p', { 'class': P + 'text' }, T.notFound),
      summary, form, confirmation
    ]);

    dialog = h('div', {
      role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': heading.id, 'class': P + 'dialog', id: P + 'dialog'
    }, [
      h('div', { 'class': P + 'header' }, [heading, close]),
      h('div', { 'class': P + 'body' }, [
        h('p', { 'class': P + 'text' }, T.intro),
        h('p', { 'class': P + 'text ' + P + 'service', hidden: true, id: P + 'service' }),
        faqSection, formSection
      ])
    ]);
    launcher.setAttribute('aria-controls', dialog.id);
    backdrop = h('div', { 'class': P + 'backdrop', hidden: true, lang: LANG }, dialog);
    backdrop.addEventListener('keydown', onKeydown);
    // A click on the backdrop itself (outside the dialog) closes it.
    backdrop.addEventListener('click', function (event) {
      if (event.target === backdrop) hide();
    });

    summary.hidden = true;
    document.body.appendChild(launcher);
    document.body.appendChild(backdrop);
  }

  // ------------------------------------------------------------ opening, closing, focus

  function isOpen() {
    return backdrop && !backdrop.hidden;
  }

  function open() {
    if (isOpen()) return;
    backdrop.hidden = false;
    document.documentElement.classList.add(P + 'open');
    // The rest of the page is inert while the dialog is open.
    madeInert = [];
    var useInert = 'inert' in HTMLElement.prototype;
    Array.prototype.forEach.call(document.body.children, function (el) {
      if (el === backdrop || /^(SCRIPT|STYLE|LINK|TEMPLATE|NOSCRIPT)$/.test(el.tagName)) return;
      var attr = useInert ? 'inert' : 'aria-hidden';
      if (el.hasAttribute(attr)) return;
      el.setAttribute(attr, useInert ? '' : 'true');
      madeInert.push([el, attr]);
    });
    document.addEventListener('focusin', keepFocus, true);
    document.addEventListener('keydown', onDocumentKeydown, true);
    heading.focus();
    if (!loaded) load();
  }

  function hide() {
    if (!isOpen()) return;
    document.removeEventListener('focusin', keepFocus, true);
    document.removeEventListener('keydown', onDocumentKeydown, true);
    madeInert.forEach(function (pair) { pair[0].removeAttribute(pair[1]); });
    madeInert = [];
    backdrop.hidden = true;
    document.documentElement.classList.remove(P + 'open');
    launcher.focus();
  }

  /** The elements Tab reaches in the dialog, in order (visible ones only). */
  function tabbables() {
    var list = dialog.querySelectorAll(
      'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])');
    return Array.prototype.filter.call(list, function (el) {
      if (el.disabled || el.getAttribute('tabindex') === '-1') return false;
      if (el.type === 'hidden') return false;
      // checkVisibility also sees the content of a closed <details>.
      if (el.checkVisibility) return el.checkVisibility({ visibilityProperty: true });
      return el.getClientRects().length > 0;
    });
  }

  function follows(a, b) {
    return !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  }

  function onKeydown(event) {
    if (event.key === 'Tab') {
      var list = tabbables();
      if (list.length === 0) {
        event.preventDefault();
        heading.focus();
        return;
      }
      var active = document.activeElement;
      var inside = active && dialog.contains(active);
      var first = list[0];
      var last = list[list.length - 1];
      if (event.shiftKey) {
        // Wrap from the first stop (or from before it: the heading) to the last.
        if (!inside || active === first || follows(active, first)) {
          event.preventDefault();
          last.focus();
        }
      } else if (!inside || active === last || follows(last, active)) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  // Escape closes, wherever the focus is (the document listener runs only while open).
  function onDocumentKeydown(event) {
    if (event.key === 'Escape' || event.key === 'Esc') {
      event.preventDefault();
      event.stopPropagation();
      hide();
    } else if (event.key === 'Tab' && !dialog.contains(document.activeElement)) {
      onKeydown(event);
    }
  }

  function keepFocus(event) {
    if (isOpen() && !dialog.contains(event.target)) {
      heading.focus();
    }
  }

  // ------------------------------------------------------------ the service and its FAQ

  function load() {
    loaded = true;
    loadFaq('');
    call(api('/services/' + encodeURIComponent(SERVICE))).then(function (res) {
      if (res.status !== 200 || !res.body) throw new Error('service ' + res.status);
      serviceInfo = res.body;
      var name = document.getElementById(P + 'service');
      name.textContent = T.service + (serviceInfo.name || SERVICE);
      name.hidden = false;
      fillSelect(fields.category.control, (serviceInfo.categories || []).map(function (c) {
        return [c.code, c.label];
      }), CATEGORY, T.choose);
      fillSelect(fields.commune.control, (serviceInfo.communes || []).map(function (c) {
        return [c.insee_code, c.name];
      }), fields.commune.control.value || COMMUNE, T.noCommune);
    }).catch(function () {
      loaded = false; // tried again at the next opening
      showSummary([{
        text: T.fallback,
        href: ORIGIN + '/aide?service=' + encodeURIComponent(SERVICE)
          + (CATEGORY ? '&category=' + encodeURIComponent(CATEGORY) : '')
          + '&page=' + encodeURIComponent(window.location.href)
      }], true, T.unavailable);
    });
  }

  function fillSelect(select, options, selected, empty) {
    clear(select);
    select.appendChild(h('option', { value: '' }, empty));
    options.forEach(function (o) {
      select.appendChild(h('option', { value: o[0], selected: o[0] === selected }, o[1]));
    });
  }

  function loadFaq(query) {
    var mine = ++seq;
    faqStatus.textContent = T.loading;
    var url = api('/faq?service=' + encodeURIComponent(SERVICE) + (query ? '&q=' + encodeURIComponent(query) : ''));
    call(url).then(function (res) {
      if (mine !== seq) return;
      if (res.status !== 200 || !res.body || !Array.isArray(res.body.entries)) throw new Error('faq ' + res.status);
      clear(faqList);
      res.body.entries.forEach(function (entry) { faqList.appendChild(faqEntry(entry)); });
      var n = res.body.entries.length;
      faqStatus.textContent = n === 0 ? T.none : T.found(n);
    }).catch(function () {
      if (mine !== seq) return;
      clear(faqList);
      faqStatus.textContent = T.faqError;
    });
  }

  function faqEntry(entry) {
    var id = P + 'faq-' + entry.id;
    var thanks = h('p', { 'class': P + 'thanks', 'aria-live': 'polite' });
    var yes = h('button', { type: 'button', 'class': P + 'button ' + P + 'secondary' }, T.yes);
    var no = h('button', { type: 'button', 'class': P + 'button ' + P + 'secondary' }, T.no);
    var done = false;
    function rate(helpful) {
      if (done) return;
      done = true;
      yes.setAttribute('aria-disabled', 'true');
      no.setAttribute('aria-disabled', 'true');
      call(api('/faq/' + encodeURIComponent(entry.id) + '/feedback'), {
        method: 'POST', body: new URLSearchParams({ helpful: helpful ? 'true' : 'false' })
      }).then(function (res) {
        if (res.status < 200 || res.status >= 300) throw new Error('feedback ' + res.status);
        thanks.textContent = T.thanks;
      }).catch(function () {
        done = false;
        yes.removeAttribute('aria-disabled');
        no.removeAttribute('aria-disabled');
        thanks.textContent = T.thanksError;
      });
    }
    yes.addEventListener('click', function () { rate(true); });
    no.addEventListener('click', function () { rate(false); });
    return h('details', { 'class': P + 'entry', id: id }, [
      h('summary', { 'class': P + 'question' }, String(entry.question)),
      h('div', { 'class': P + 'answer' }, [
        h('p', { 'class': P + 'text' }, String(entry.answer)),
        h('div', { role: 'group', 'class': P + 'rating', 'aria-labelledby': id + '-helpful' }, [
          h('span', { id: id + '-helpful', 'class': P + 'rating-label' }, T.helpful),
          yes, no
        ]),
        thanks
      ])
    ]);
  }

  // ------------------------------------------------------------ sending the form

  /**
   * The alert above the form. `problems`: [{text, field, href}]; `field` names a
   * control of the form (the item then leads to it), `href` makes it a link.
   */
  function showSummary(problems, quiet, title) {
    clear(summary);
    append(summary, [
      h('p', { 'class': P + 'summary-title' }, title || T.notSent),
      h('ul', { 'class': P + 'summary-list' }, problems.map(function (p) {
        var f = p.field && fields[p.field];
        if (p.href) return h('li', null, h('a', { href: p.href, 'class': P + 'link' }, p.text));
        if (!f) return h('li', null, p.text);
        var link = h('a', { href: '#' + f.control.id, 'class': P + 'link' }, p.text);
        link.addEventListener('click', function (event) {
          event.preventDefault(); // no change of the service page's address
          f.control.focus();
        });
        return h('li', null, link);
      }))
    ]);
    summary.hidden = false;
    if (!quiet) summary.focus();
  }

  function clearErrors() {
    summary.hidden = true;
    clear(summary);
    Object.keys(fields).forEach(function (name) {
      var f = fields[name];
      f.control.removeAttribute('aria-invalid');
      f.error.hidden = true;
      f.error.textContent = '';
      f.control.setAttribute('aria-describedby', [f.hint && f.hint.id].filter(Boolean).join(' '));
      if (!f.hint) f.control.removeAttribute('aria-describedby');
    });
  }

  function markInvalid(problems) {
    problems.forEach(function (p) {
      var f = p.field && fields[p.field];
      if (!f) return;
      f.control.setAttribute('aria-invalid', 'true');
      f.error.hidden = false;
      append(f.error, [h('span', { 'class': P + 'visually-hidden' }, T.fieldError), p.text, ' ']);
      f.control.setAttribute('aria-describedby', [f.error.id, f.hint && f.hint.id].filter(Boolean).join(' '));
    });
  }

  function fail(problems) {
    progress.textContent = '';
    clearErrors();
    markInvalid(problems);
    showSummary(problems);
  }

  function send(event) {
    event.preventDefault();
    if (sending) return;
    var chosen = Array.prototype.slice.call(fields.attachments.control.files || []);
    var local = [];
    if (chosen.length > MAX_FILES) local.push({ field: 'attachments', text: T.tooMany });
    chosen.forEach(function (file) {
      if (file.size > MAX_BYTES) local.push({ field: 'attachments', text: T.tooBig(file.name) });
    });
    if (local.length > 0) {
      fail(local);
      return;
    }

    var data = new FormData();
    data.append('service', SERVICE);
    data.append('category', fields.category.control.value);
    data.append('subject', fields.subject.control.value);
    data.append('message', fields.message.control.value);
    data.append('email', fields.email.control.value.trim());
    data.append('commune', fields.commune.control.value);
    data.append('page', window.location.href);
    chosen.forEach(function (file) { data.append('attachments', file, file.name); });

    sending = true;
    form.setAttribute('aria-busy', 'true');
    progress.textContent = T.sending;
    call(ORIGIN + '/api/v1/help-requests', { method: 'POST', body: data }).then(function (res) {
      if (res.status === 201 && res.body && res.body.reference) {
        done(res.body);
      } else if (res.status === 422 && res.body && Array.isArray(res.body.errors)) {
        fail(res.body.errors.map(function (e) {
          var text = (LANG === 'en' && e.message_en) ? e.message_en : (e.message || e.message_en || '');
          return { field: e.field || null, text: text };
        }));
      } else if (res.status === 413) {
        fail([{ field: 'attachments', text: T.tooLarge }]);
      } else {
        fail([{ text: T.server(res.status) }]);
      }
    }, function () {
      fail([{ text: T.network }]);
    }).then(function () {
      sending = false;
      form.removeAttribute('aria-busy');
    });
  }

  function safeUrl(url) {
    try {
      var u = new URL(url, ORIGIN);
      return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function done(result) {
    progress.textContent = '';
    clearErrors();
    var routed = result.routed_to || {};
    var who = T.byMetropolis;
    if (routed.kind === 'commune') {
      var name = '';
      ((serviceInfo && serviceInfo.communes) || []).forEach(function (c) {
        if (c.insee_code === routed.insee_code) name = c.name;
      });
      who = T.byCommune(name);
    }
    var link = safeUrl(result.tracking_url);
    clear(confirmation);
    append(confirmation, [
      h('p', { 'class': P + 'confirmation-title' }, [T.recorded, h('strong', null, String(result.reference)), '.']),
      h('p', { 'class': P + 'text' }, who),
      link ? h('p', { 'class': P + 'text' }, h('a', {
        href: link, target: '_blank', rel: 'noopener noreferrer', 'class': P + 'link'
      }, [T.track + result.reference, h('span', null, T.newTab)])) : null,
      h('p', { 'class': P + 'text' }, T.emailSent(fields.email.control.value.trim()))
    ]);
    var again = h('button', { type: 'button', 'class': P + 'button ' + P + 'secondary' }, T.again);
    again.addEventListener('click', function () {
      fields.subject.control.value = '';
      fields.message.control.value = '';
      fields.attachments.control.value = '';
      confirmation.hidden = true;
      form.hidden = false;
      fields.subject.control.focus();
    });
    confirmation.appendChild(again);
    form.hidden = true;
    confirmation.hidden = false;
    confirmation.focus();
  }

  // ------------------------------------------------------------ start

  function start() {
    if (!SERVICE || !document.body) return;
    var lang = (document.documentElement.getAttribute('lang') || '').toLowerCase();
    LANG = lang.slice(0, 2) === 'en' ? 'en' : 'fr';
    T = TEXTS[LANG];
    var shown = false;
    var sheet = h('link', { rel: 'stylesheet', href: ORIGIN + '/aide/widget.css' });
    // The button appears once styled (or if the style sheet cannot load, unstyled but usable).
    function show() {
      if (shown) return;
      shown = true;
      build();
    }
    sheet.addEventListener('load', show);
    sheet.addEventListener('error', show);
    setTimeout(show, 3000);
    (document.head || document.documentElement).appendChild(sheet);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
