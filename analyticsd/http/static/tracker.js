/* analyticsd tracker: page views (also of single-page apps), outbound links,
   file downloads, tagged elements, custom events and engagement, in
   Plausible's event format, sent as text/plain (no CORS preflight) with
   sendBeacon or fetch keepalive. No cookies, no storage but the opt-out flag
   (localStorage.analyticsd_ignore or plausible_ignore = "true"). Pages on
   localhost are not counted unless data-local is set.

   The daemon serves it minified with EVENT_PATH and FEATURES filled in:
   FEATURES is {h: hash routes, o: outbound links, f: file downloads,
   t: tagged elements, m: manual page views, l: localhost, x: exclusions,
   p: pageview props from event-* attributes}, from the script's name
   (Plausible's script.hash.outbound-links.js ...) or all on under our own.
   data-api overrides the endpoint, data-hash counts #/routes as pages.
   It answers window.plausible(...) and window.analyticsd(...) and replays
   both queues, and reads the options of plausible.init({...}) of Plausible's
   snippet, so a Plausible snippet works by changing its host only.

   <script defer data-domain="example.com" src="/js/script.js"></script>
   plausible("Signup", {props: {plan: "pro"}, revenue: {amount: 10, currency: "EUR"}})

   Short names on purpose: the minifier strips only space and comments, and
   the script must stay under MAX_BYTES (http/tracker.py). */
(function (w, d) {
  var s = d.currentScript || d.getElementById("plausible"), l = w.location, A = "addEventListener",
    F = FEATURES, P = w.plausible || {}, c = P.o || {},
    at = function (k) { return s.getAttribute("data-" + k); },
    api = c.endpoint || at("api") || new URL("EVENT_PATH", s.src).href,
    dom = c.domain || at("domain") || l.hostname,
    hm = F.h || c.hashBasedRouting || at("hash") != null,
    last, lastU, t0, spent, depth; // the page shown, since when visible, ms seen, max scroll %

  c.outboundLinks && (F.o = 1);
  c.fileDownloads && (F.f = 1);
  c.captureOnLocalhost && (F.l = 1);
  c.autoCapturePageviews === false && (F.m = 1);

  function key() { return l.pathname + (hm ? l.hash : ""); }

  function match(list) {
    // Plausible's data-include / data-exclude: ** any path, * one segment.
    return list && list.split(",").some(function (p) {
      return new RegExp("^" + p.trim().replace(/\*\*/g, ".*").replace(/([^.])\*/g, "$1[^\\s/]*") + "/?$").test(key());
    });
  }

  function ignored(name) {
    try { if (localStorage.analyticsd_ignore == "true" || localStorage.plausible_ignore == "true") return 1; } catch (e) {}
    if (F.x && name == "pageview" && (at("include") && !match(at("include")) || match(at("exclude")))) return 1;
    return l.protocol == "file:" || /^(localhost|127\.[\d.]+|\[::1\])$/.test(l.hostname) && !F.l && at("local") == null;
  }

  function post(b) {
    b.d = dom;
    hm && (b.h = 1);
    b = JSON.stringify(b);
    navigator.sendBeacon && navigator.sendBeacon(api, b) || fetch(api, { method: "POST", body: b, keepalive: true });
  }

  function send(name, o) {
    o = o || {};
    if (!ignored(name)) {
      var p = o.props || {}, a = s.attributes, i = 0;
      for (; F.p && i < a.length; i++) a[i].name.indexOf("event-") || (p[a[i].name.slice(6)] = p[a[i].name.slice(6)] || a[i].value);
      var b = { n: name, u: o.u || o.url || l.href, r: d.referrer || null, w: w.innerWidth, p: p };
      o.revenue && (b.$ = o.revenue);
      o.interactive === false && (b.i = false);
      post(b);
    }
    o.callback && o.callback();
  }

  function leave() {
    // Engagement of the page being left (`lastU`: after a route change the
    // location is already the next page's): engaged ms since the last one
    // sent, the deepest scroll (%). Plausible's `engagement` event.
    if (!lastU) return;
    scroll(); // where it is now: a scroll event may not have run yet
    t0 && (spent += Date.now() - t0);
    t0 = 0;
    if (spent || depth) post({ n: "engagement", u: lastU, sd: depth, e: spent });
    spent = 0;
  }

  function scroll() {
    var e = d.documentElement, h = Math.max(e.scrollHeight, d.body ? d.body.scrollHeight : 0);
    depth = Math.max(depth, h > 0 ? Math.min(100, Math.round((w.scrollY + w.innerHeight) / h * 100)) : 100);
  }

  function page() {
    if (F.m || key() == last) return;
    leave();
    last = key(); lastU = l.href; depth = 0; spent = 0; t0 = Date.now(); scroll();
    send("pageview");
  }

  function tagged(el) {
    // class="plausible-event-name=Sign+up plausible-event-plan=pro
    // plausible-revenue-amount=10 plausible-revenue-currency=EUR", on the
    // element clicked (or submitted) or up to three of its parents.
    for (var i = 0; el && el.classList && i < 4; i++, el = el.parentNode) {
      var o = { props: {} }, r = {}, n;
      el.classList.forEach(function (k) {
        var m = k.match(/^plausible-(event|revenue)-([^=]+)=(.+)$/);
        if (!m) return;
        var v = m[3].replace(/\+/g, " ");
        m[1] == "revenue" ? r[m[2]] = v : m[2] == "name" ? n = v : o.props[m[2]] = v;
      });
      if (n) { r.amount && (o.revenue = r); return send(n, o) || 1; }
    }
  }

  var h = history, push = h.pushState;
  h.pushState = function () { push.apply(h, arguments); page(); };
  w[A]("popstate", function () { page(); });
  hm && w[A]("hashchange", function () { page(); });
  w[A]("scroll", scroll, { passive: true });
  w[A]("pagehide", leave);
  d[A]("visibilitychange", function () {
    d.visibilityState == "hidden" ? (t0 && (spent += Date.now() - t0), t0 = 0, leave()) : t0 || (t0 = Date.now());
  });
  d[A]("click", function (e) {
    if (F.t && tagged(e.target)) return;
    var a = e.target.closest && e.target.closest("a[href]");
    if (!a) return;
    if (F.o && /^http/.test(a.protocol) && a.host != l.host) send("Outbound Link: Click", { props: { url: a.href } });
    else if (F.f && /\.(pdf|xlsx?|docx?|txt|rtf|csv|exe|key|pp[st]x?|7z|pkg|rar|gz|zip|avi|mov|mp4|mpe?g|wmv|midi?|mp3|wav|wma|dmg|iso|msi)$/i.test(a.pathname)) send("File Download", { props: { url: a.href } });
  }, true);
  F.t && d[A]("submit", function (e) { tagged(e.target); }, true);

  // Calls made before the script loaded (the snippets' queues), after the
  // page view, as Plausible's tracker sends them.
  var q = (P.q || []).concat(w.analyticsd && w.analyticsd.q || []), i = 0;
  w.plausible = w.analyticsd = send;
  send.init = function () {};
  page();
  for (; i < q.length; i++) send.apply(w, q[i]);
})(window, document);
