/* analyticsd tracker: page views (also of single-page apps), outbound links,
   file downloads, custom events and engagement, in Plausible's event format,
   sent as text/plain (no CORS preflight) with sendBeacon or fetch keepalive.
   No cookies, no storage but the opt-out flag (localStorage.analyticsd_ignore
   = "true"). Pages on localhost are not counted unless data-local is set.
   The daemon serves it minified with EVENT_PATH filled in; data-api
   overrides the endpoint, data-hash counts #/routes as pages.

   <script defer data-domain="example.com" src="/js/script.js"></script>
   analyticsd("Signup", {props: {plan: "pro"}, revenue: {amount: 10, currency: "EUR"}})

   Short names on purpose: the minifier strips only space and comments, and
   the script must stay under 2 KB. */
(function (w, d) {
  var s = d.currentScript, l = w.location, A = "addEventListener",
    at = function (k) { return s.getAttribute("data-" + k); },
    api = at("api") || new URL("EVENT_PATH", s.src).href,
    hm = at("hash") != null,
    last, t0, depth; // the page shown, since when it is visible, max scroll %

  function url() {
    return hm ? l.href.replace("#", "/") : l.href.split("#")[0];
  }

  function send(name, o) {
    try { if (localStorage.analyticsd_ignore == "true") return; } catch (e) {}
    if (l.protocol == "file:" || /^(localhost|127\.[\d.]+|\[::1\])$/.test(l.hostname) && at("local") == null) return;
    o = o || {};
    var b = JSON.stringify({ n: name, u: o.u || url(), d: at("domain") || l.hostname, r: d.referrer || null, w: w.innerWidth, p: o.props, $: o.revenue });
    navigator.sendBeacon && navigator.sendBeacon(api, b) || fetch(api, { method: "POST", body: b, keepalive: true });
    o.callback && o.callback();
  }

  function leave() {
    // Engagement of the page being left (`last`: after a route change the
    // location is already the next page's): visible seconds, scroll depth.
    if (t0) send("engagement", { u: last, props: { engaged_s: Math.round((Date.now() - t0) / 1e3), scroll_depth: depth } });
    t0 = 0;
  }

  function scroll() {
    var h = d.documentElement.scrollHeight - w.innerHeight;
    depth = Math.max(depth, h > 0 ? Math.min(100, Math.round(w.scrollY / h * 100)) : 100);
  }

  function page() {
    var u = url();
    if (u == last) return;
    last && leave();
    last = u; depth = 0; t0 = Date.now(); scroll();
    send("pageview");
  }

  var h = history, push = h.pushState;
  h.pushState = function () { push.apply(h, arguments); page(); };
  w[A]("popstate", page);
  hm && w[A]("hashchange", page);
  w[A]("scroll", scroll, { passive: true });
  w[A]("pagehide", leave);
  d[A]("visibilitychange", function () {
    d.visibilityState == "hidden" ? leave() : t0 || (t0 = Date.now());
  });
  d[A]("click", function (e) {
    var a = e.target.closest && e.target.closest("a[href]");
    if (!a) return;
    if (/^http/.test(a.protocol) && a.host != l.host) send("Outbound Link: Click", { props: { url: a.href } });
    else if (/\.(pdf|xlsx?|docx?|txt|rtf|csv|exe|key|pp[st]x?|7z|pkg|rar|gz|zip|avi|mov|mp4|mpe?g|wmv|midi?|mp3|wav|wma|dmg|iso|msi)$/i.test(a.pathname)) send("File Download", { props: { url: a.href } });
  }, true);

  var q = w.analyticsd && w.analyticsd.q || [];
  w.analyticsd = send;
  for (var i = 0; i < q.length; i++) send.apply(w, q[i]);
  page();
})(window, document);
