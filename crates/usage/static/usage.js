/* Mutualis: audience measurement without cookies (DATA-1, DATA-2).
 *
 *   <script src="https://mutualis.example/usage.js" data-service="toodego" defer></script>
 *
 * Counts the page view (data-auto="off" to count by hand), and gives
 * MutualisUsage.page() and MutualisUsage.event(type, feature). Sets no
 * cookie and stores nothing in the browser; sends nothing when the browser
 * asks not to be tracked (Do Not Track, Global Privacy Control).
 * data-commune="69266": the commune's INSEE code, when the page knows it.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) return;
  var service = script.getAttribute('data-service');
  var commune = script.getAttribute('data-commune') || undefined;
  var endpoint = new URL('/api/v1/usage/beacon', script.src).href;
  var optedOut =
    navigator.doNotTrack === '1' || window.doNotTrack === '1' || navigator.globalPrivacyControl === true;

  function send(type, fields) {
    if (optedOut || !service) return false;
    var event = { service: service, type: type };
    if (commune) event.commune = commune;
    for (var k in fields) event[k] = fields[k];
    var body = JSON.stringify(event);
    // A text body: no CORS preflight. fetch first, as it can leave the
    // platform's cookies behind (sendBeacon always sends them); keepalive
    // lets it outlive the page.
    if (window.fetch) {
      fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit', mode: 'no-cors' })
        .catch(function () {});
      return true;
    }
    return !!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body));
  }

  function text(value) {
    return typeof value === 'string' && value !== '';
  }

  window.MutualisUsage = {
    page: function () {
      return send('page', { page: location.pathname });
    },
    event: function (type, feature) {
      if (!text(type) || !text(feature)) return false;
      return send(type, { feature: feature });
    }
  };
  if (script.getAttribute('data-auto') !== 'off') window.MutualisUsage.page();
})();
