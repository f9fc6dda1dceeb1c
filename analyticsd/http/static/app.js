"use strict";
// The dashboard: plain DOM, every number from the Stats API v1 (session
// cookie), the chart rendered as SVG by the daemon. Data is written with
// textContent only; the one innerHTML is the daemon's own SVG.
const $ = (sel) => document.querySelector(sel);
const CARDS = [
  ["visitors", "Unique visitors", (v) => v.toLocaleString()],
  ["visits", "Visits", (v) => v.toLocaleString()],
  ["pageviews", "Page views", (v) => v.toLocaleString()],
  ["bounce_rate", "Bounce rate", (v) => v + "%"],
  ["visit_duration", "Visit duration", (v) => (v >= 60 ? Math.floor(v / 60) + "m " : "") + (v % 60) + "s"],
];
const TABLES = [
  ["Top pages", "event:page", "visitors,pageviews"],
  ["Entry pages", "visit:entry_page", "visits,bounce_rate"],
  ["Exit pages", "visit:exit_page", "visits"],
  ["Sources", "visit:source", "visitors,bounce_rate"],
  ["Referrers", "visit:referrer", "visitors"],
  ["UTM sources", "visit:utm_source", "visitors"],
  ["UTM mediums", "visit:utm_medium", "visitors"],
  ["UTM campaigns", "visit:utm_campaign", "visitors"],
  ["Devices", "visit:device", "visitors"],
  ["Browsers", "visit:browser", "visitors"],
  ["Operating systems", "visit:os", "visitors"],
  ["Countries", "visit:country", "visitors"],
  ["Regions", "visit:region", "visitors"],
  ["Cities", "visit:city", "visitors"],
  ["Goals", "event:goal", "visitors,events,conversion_rate,revenue"],
];
const HEAD = { visitors: "Visitors", visits: "Visits", pageviews: "Views", bounce_rate: "Bounce",
  events: "Completions", conversion_rate: "Conversion", revenue: "Revenue" };
let sites = [];
// The GeoIP database in use (/dashboard/geo.json): whether the region and
// city panels can ever fill, and whose data the countries are.
let geo = { database: "bundled", loaded: true, cities: false };
const GEO_PANELS = { "visit:country": "Countries", "visit:region": "Regions", "visit:city": "Cities" };

async function api(path, params) {
  const r = await fetch(`/api/v1/${path}?${new URLSearchParams(params)}`, { credentials: "same-origin" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.message ? body.message[0] : `HTTP ${r.status}`);
  return body;
}

function period() {
  const p = { period: $("#period").value };
  if (p.period === "custom") p.date = `${$("#from").value},${$("#to").value}`;
  return p;
}

function query() {
  const q = { site_id: $("#site").value, ...period() };
  if ($("#compare").checked) q.compare = "previous_period";
  return q;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function show(v) {
  if (v && typeof v === "object") return Object.entries(v).map(([c, a]) => `${a.toLocaleString()} ${c}`).join(", ") || "–";
  return typeof v === "number" ? v.toLocaleString() : String(v ?? "–");
}

async function cards() {
  const res = await api("stats/aggregate", { ...query(), metrics: CARDS.map((c) => c[0]).join(",") });
  const box = $("#cards");
  box.replaceChildren();
  for (const [metric, title, fmt] of CARDS) {
    const r = res.results[metric];
    const card = el("div", undefined, "card");
    card.dataset.metric = metric;
    card.append(el("h2", title), el("div", fmt(r.value), "value"));
    if ("change" in r) {
      const c = r.change;
      const better = metric === "bounce_rate" ? c < 0 : c > 0;
      const unit = metric === "bounce_rate" ? " pts" : "%";
      const text = c === null ? "new" : (c > 0 ? "+" : "") + c + unit;
      card.append(el("div", text, "change " + (c ? (better ? "up" : "down") : "")));
    }
    box.append(card);
  }
}

async function chart() {
  const r = await fetch(`/dashboard/chart.svg?${new URLSearchParams({ ...query(), metric: "visitors" })}`);
  $("#chart").innerHTML = r.ok ? await r.text() : "";
}

async function geoInfo() {
  const r = await fetch("/dashboard/geo.json", { credentials: "same-origin" });
  if (r.ok) geo = await r.json();
}

// [text, whether the panel cannot fill without a configuration change]
function geoNote(property) {
  const what = GEO_PANELS[property];
  if (!what) return ["", false];
  if (geo.database === "off") {
    return [`${what} need a GeoIP database, and GeoIP is off ([geoip] database = "none" in ` +
      `analyticsd.toml). Set it to "" for the bundled country database, or to the path of a ` +
      `City .mmdb file (GeoLite2 City, DB-IP City Lite) for regions and cities too, then reload.`, true];
  }
  if (!geo.loaded) {
    return [`The GeoIP database cannot be read, so there are no ${what.toLowerCase()}: ` +
      "`analyticsd status` says why.", true];
  }
  if (property === "visit:country") {
    return [geo.database === "bundled" && geo.package ?
      `Countries from the bundled database ${geo.package} (${geo.license}).` : "", false];
  }
  if (geo.cities) return ["", false];
  const which = geo.database === "bundled" ? "The bundled database" : "The configured database";
  return [`${what} need a City database. ${which} knows countries only: set [geoip] database ` +
    "in analyticsd.toml to the path of a GeoLite2 City or DB-IP City Lite .mmdb file and " +
    "reload (see GeoIP in the README).", true];
}

function noteRow(text, span) {
  const tr = el("tr", undefined, "note");
  const td = el("td", text);
  td.colSpan = span;
  tr.append(td);
  return tr;
}

async function table([title, property, metrics]) {
  const res = await api("stats/breakdown", { site_id: $("#site").value, ...period(), property, metrics, limit: 10 });
  const t = el("table");
  t.dataset.property = property;
  t.append(el("caption", title));
  const cols = metrics.split(",");
  const head = el("tr");
  head.append(el("th", property.split(":").pop().replace("_", " ")));
  cols.forEach((m) => head.append(el("th", HEAD[m] || m)));
  t.append(head);
  const [note, needed] = geoNote(property);
  if (!res.results.length) t.append(noteRow(needed ? note : "No data yet", cols.length + 1));
  const key = Object.keys(res.results[0] || {})[0];
  for (const row of res.results) {
    const tr = el("tr");
    tr.append(el("td", row[key]));
    cols.forEach((m) => tr.append(el("td", show(row[m]) + (m.endsWith("rate") ? "%" : ""))));
    t.append(tr);
  }
  // Rows from before (another database, earlier) still show, with the note.
  if (note && (res.results.length || !needed)) t.append(noteRow(note, cols.length + 1));
  return t;
}

async function tables() {
  await geoInfo();
  const built = await Promise.all(TABLES.map(table));
  $("#tables").replaceChildren(...built);
}

async function realtime() {
  if (!$("#site").value) return;
  try {
    $("#current").textContent = (await api("stats/realtime/visitors", { site_id: $("#site").value })).toLocaleString();
  } catch (e) { /* the next tick tries again */ }
}

async function funnel() {
  const site = sites.find((s) => s.id === $("#site").value);
  $("#funnel-section").hidden = !site || !site.funnels.length;
  if ($("#funnel-section").hidden) return;
  const sel = $("#funnel");
  if (sel.dataset.site !== site.id) {
    sel.replaceChildren(...site.funnels.map((f) => el("option", f)));
    sel.dataset.site = site.id;
  }
  const res = await api("stats/funnel", { site_id: site.id, ...period(), funnel: sel.value });
  const top = res.steps[0].visitors || 1;
  $("#funnel-steps").replaceChildren(...res.steps.map((s) => {
    const li = el("li");
    const bar = el("div", undefined, "bar");
    bar.style.width = (100 * s.visitors / top) + "%";
    li.append(el("div", `${s.name}: ${s.visitors.toLocaleString()} visitors (${s.conversion_rate}% of the step before)`), bar);
    return li;
  }));
}

async function render() {
  $("#error").hidden = true;
  try {
    await Promise.all([cards(), chart(), tables(), funnel(), realtime()]);
    document.body.dataset.ready = "1";
  } catch (e) {
    $("#error").textContent = e.message;
    $("#error").hidden = false;
  }
}

async function start() {
  const res = await api("sites", {});
  sites = res.sites;
  $("#site").replaceChildren(...sites.map((s) => el("option", s.id)));
  const wanted = new URLSearchParams(location.hash.slice(1));
  if (wanted.get("site")) $("#site").value = wanted.get("site");
  if (wanted.get("period")) $("#period").value = wanted.get("period");
  const today = new Date().toISOString().slice(0, 10);
  $("#to").value = today;
  $("#from").value = new Date(Date.now() - 6 * 864e5).toISOString().slice(0, 10);
  for (const id of ["#site", "#period", "#compare", "#from", "#to"]) $(id).addEventListener("change", () => {
    $("#range").hidden = $("#period").value !== "custom";
    if ($("#period").value === "custom" && !($("#from").value && $("#to").value)) return;
    document.body.dataset.ready = "";
    history.replaceState(null, "", `#site=${encodeURIComponent($("#site").value)}&period=${$("#period").value}`);
    render();
  });
  $("#funnel").addEventListener("change", funnel);
  await render();
  setInterval(realtime, 10000);
}

start().catch((e) => { $("#error").textContent = e.message; $("#error").hidden = false; });
