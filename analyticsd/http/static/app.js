"use strict";
// The dashboard: plain DOM, every number from the Stats API v1 (session
// cookie), the chart rendered as SVG by the daemon. Data is written with
// textContent only; the one innerHTML is the daemon's own SVG.
//
// The view (site, period, compare, chart metric and interval, filters) lives
// in the URL's hash, so a link reproduces it; every change goes through
// `go()`, which writes the hash and renders again.
const $ = (sel) => document.querySelector(sel);
const duration = (v) => (v >= 60 ? Math.floor(v / 60) + "m " : "") + (v % 60) + "s";
const CARDS = [
  ["visitors", "Unique visitors", (v) => v.toLocaleString()],
  ["visits", "Visits", (v) => v.toLocaleString()],
  ["pageviews", "Page views", (v) => v.toLocaleString()],
  ["bounce_rate", "Bounce rate", (v) => v + "%"],
  ["visit_duration", "Visit duration", duration],
];
// [title, property, metrics, extra filter]
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
  ["Outbound links", "event:props:url", "visitors,events", "event:name==Outbound Link: Click"],
  ["File downloads", "event:props:url", "visitors,events", "event:name==File Download"],
];
const HEAD = { visitors: "Visitors", visits: "Visits", pageviews: "Views", bounce_rate: "Bounce",
  events: "Events", conversion_rate: "Conversion", revenue: "Revenue" };
const NAMES = { "event:page": "Page", "event:goal": "Goal", "event:name": "Event",
  "visit:entry_page": "Entry page", "visit:exit_page": "Exit page", "visit:source": "Source",
  "visit:referrer": "Referrer", "visit:utm_source": "UTM source", "visit:utm_medium": "UTM medium",
  "visit:utm_campaign": "UTM campaign", "visit:device": "Device", "visit:browser": "Browser",
  "visit:os": "Operating system", "visit:country": "Country", "visit:region": "Region",
  "visit:city": "City" };
// Not custom events: counted as page views and visit durations.
const BUILTIN_EVENTS = new Set(["pageview", "engagement"]);
const PAGE_SIZE = 20;
let sites = [];
let view = {};
let renders = 0;

// -- the view and the URL ---------------------------------------------------

function readView() {
  const h = new URLSearchParams(location.hash.slice(1));
  return {
    site: h.get("site") || (sites[0] && sites[0].id) || "",
    period: h.get("period") || "30d",
    from: h.get("from") || "", to: h.get("to") || "",
    compare: h.get("compare") === "previous_period",
    // Imported history (analyticsd import plausible) is in by default, as on Plausible.
    imported: h.get("imported") !== "no",
    metric: h.get("metric") || "visitors",
    interval: h.get("interval") || "",
    filters: h.getAll("f").map(parseFilter).filter(Boolean),
  };
}

function writeHash(v) {
  const h = new URLSearchParams({ site: v.site, period: v.period });
  if (v.period === "custom") { h.set("from", v.from); h.set("to", v.to); }
  if (v.compare) h.set("compare", "previous_period");
  if (!v.imported) h.set("imported", "no");
  if (v.metric !== "visitors") h.set("metric", v.metric);
  if (v.interval) h.set("interval", v.interval);
  v.filters.forEach((f) => h.append("f", filterText(f)));
  return "#" + h;
}

function go(changes) {
  view = { ...view, ...changes };
  history.pushState(null, "", writeHash(view));
  render();
}

function parseFilter(text) {
  const m = /^([a-z_]+:[^=!]+?)(==|!=)(.+)$/s.exec(text);
  return m ? { prop: m[1], op: m[2], values: m[3].split("|") } : null;
}

const filterText = (f) => `${f.prop}${f.op}${f.values.join("|")}`;

function filtersParam(extra) {
  const all = view.filters.map(filterText);
  if (extra && !view.filters.some((f) => f.prop === parseFilter(extra).prop)) all.push(extra);
  return all.join(";");
}

function period() {
  const p = { period: view.period };
  if (view.period === "custom") p.date = `${view.from},${view.to}`;
  return p;
}

function query(extra) {
  const q = { site_id: view.site, ...period() };
  const filters = filtersParam(extra);
  if (filters) q.filters = filters;
  return q;
}

function addFilter(prop, value) {
  // One filter per property (the API's rule): a click on another value replaces it.
  const filters = view.filters.filter((f) => f.prop !== prop);
  filters.push({ prop, op: "==", values: [value] });
  go({ filters });
}

// -- helpers ----------------------------------------------------------------

async function api(path, params) {
  if (view.imported && /^stats\/(aggregate|timeseries|breakdown)$/.test(path)) params = { ...params, with_imported: "true" };
  const r = await fetch(`/api/v1/${path}?${new URLSearchParams(params)}`, { credentials: "same-origin" });
  const body = await r.json();
  // The Stats API v1 answers Plausible's {"error": "..."}.
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function button(text, onClick, cls) {
  const b = el("button", text, cls);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

function show(v, metric) {
  if (v && typeof v === "object") return Object.entries(v).map(([c, a]) => `${a.toLocaleString()} ${c}`).join(", ") || "–";
  if (v === null || v === undefined) return "–";
  if (metric && metric.endsWith("rate")) return v.toLocaleString() + "%";
  return typeof v === "number" ? v.toLocaleString() : String(v);
}

// A row counts when its first metric is not zero: a page nobody left from is no exit page.
const nonZero = (metrics) => (row) => {
  const v = row[metrics[0]];
  return v && (typeof v !== "object" || Object.keys(v).length);
};

function dataTable(caption, keyName, metrics, rows, onPick, empty) {
  const t = el("table");
  if (caption) t.append(el("caption", caption));
  const head = el("tr");
  const th = el("th", keyName);
  th.scope = "col";
  head.append(th);
  metrics.forEach((m) => { const h = el("th", HEAD[m] || m); h.scope = "col"; head.append(h); });
  t.append(head);
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", empty || "No data in this period");
    td.colSpan = metrics.length + 1;
    tr.append(td);
    t.append(tr);
  }
  for (const row of rows) {
    const tr = el("tr");
    const td = el("td");
    const name = row.__key;
    // A value with the filter syntax's separators in it cannot be a filter.
    const pickable = onPick && !/[;|]/.test(name);
    td.append(pickable ? button(name, () => onPick(row), "pick") : document.createTextNode(name));
    tr.append(td);
    metrics.forEach((m) => tr.append(el("td", show(row[m], m))));
    t.append(tr);
  }
  return t;
}

function keyed(results, property) {
  const key = property.startsWith("event:props:") ? property.slice(12) : property.split(":").pop();
  return results.map((r) => ({ ...r, __key: String(r[key]) }));
}

// -- filters bar ------------------------------------------------------------

function filtersBar() {
  const list = $("#filters");
  list.replaceChildren(...view.filters.map((f) => {
    const li = el("li", undefined, "chip");
    const name = NAMES[f.prop] || (f.prop.startsWith("event:props:") ? f.prop.slice(12) : f.prop);
    li.append(el("span", name + " "));
    const op = button(f.op === "==" ? "is" : "is not", () => go({
      filters: view.filters.map((g) => (g === f ? { ...g, op: g.op === "==" ? "!=" : "==" } : g)),
    }), "op");
    op.setAttribute("aria-label", `${name}: ${f.op === "==" ? "is" : "is not"} (switch)`);
    if (f.prop === "event:goal") op.disabled = true; // goals filter with "is" only
    li.append(op, el("span", " " + f.values.join(" or ") + " "));
    const x = button("×", () => go({ filters: view.filters.filter((g) => g !== f) }), "remove");
    x.setAttribute("aria-label", `Remove the filter ${name} ${f.values.join(" or ")}`);
    li.append(x);
    return li;
  }));
  $("#filters-bar").hidden = !view.filters.length;
}

// -- cards and chart --------------------------------------------------------

function changeText(metric, r, previousEmpty) {
  // Against an empty previous period every card says the same: "new" when it
  // has a value now, "—" when it has none either; never a change from nothing.
  const has = r.value !== null && r.value !== 0;
  if (previousEmpty || r.change === null) return [has ? "new" : "—", ""];
  const c = r.change;
  const better = metric === "bounce_rate" ? c < 0 : c > 0;
  const unit = metric === "bounce_rate" ? " pts" : "%";
  return [(c > 0 ? "+" : "") + c + unit, c ? (better ? "up" : "down") : ""];
}

async function cards() {
  const q = { ...query(), metrics: CARDS.map((c) => c[0]).join(",") };
  if (view.compare) q.compare = "previous_period";
  const res = await api("stats/aggregate", q);
  const previousEmpty = view.compare && !res.results.visits.comparison_value;
  $("#cards").replaceChildren(...CARDS.map(([metric, title, fmt]) => {
    const r = res.results[metric];
    const card = button("", () => go({ metric }), "card");
    card.dataset.metric = metric;
    card.setAttribute("aria-pressed", String(metric === view.metric));
    card.append(el("span", title, "title"), el("span", r.value === null ? "—" : fmt(r.value), "value"));
    if (view.compare) {
      const [text, cls] = changeText(metric, r, previousEmpty);
      card.append(el("span", text, "change " + cls));
    }
    return card;
  }));
  return res.results.visitors.value;
}

function days() {
  if (view.period === "custom") return (Date.parse(view.to) - Date.parse(view.from)) / 864e5 + 1;
  return { day: 1, "7d": 7, "30d": 30, month: 31, "6mo": 184, "12mo": 366 }[view.period] || 30;
}

function interval() {
  // The period decides which intervals make sense (as the API's limits say).
  const n = days();
  const allowed = { hour: n <= 31, date: n > 1, week: n > 7, month: n > 31 };
  for (const o of $("#interval").options) o.disabled = !allowed[o.value];
  const fallback = n === 1 ? "hour" : n > 62 ? "month" : "date";
  const chosen = allowed[view.interval] ? view.interval : fallback;
  $("#interval").value = chosen;
  return chosen;
}

async function chart() {
  const q = { ...query(), metric: view.metric, interval: interval() };
  if (view.compare) q.compare = "previous_period";
  if (view.imported) q.with_imported = "true";
  const title = (CARDS.find((c) => c[0] === view.metric) || CARDS[0])[1];
  $("#chart-title").textContent = `${title} over time`;
  const r = await fetch(`/dashboard/chart.svg?${new URLSearchParams(q)}`);
  if (!r.ok) throw new Error(await r.text());
  $("#chart").innerHTML = await r.text();
}

// -- tables and details -----------------------------------------------------

async function table([title, property, metrics, extra]) {
  const box = el("section", undefined, "panel");
  box.dataset.property = property;
  if (extra) box.dataset.event = parseFilter(extra).values[0];
  const cols = metrics.split(",");
  const keyName = NAMES[property] || property.split(":").pop();
  let rows = [];
  let note = "";
  try {
    const res = await api("stats/breakdown", { ...query(extra), property, metrics, limit: 10 });
    rows = keyed(res.results, property).filter(nonZero(cols));
  } catch (e) {
    note = e.message;
  }
  const [geoText, needed] = geoNote(property);
  const empty = note || (needed ? geoText : "");
  const t = dataTable(title, keyName, cols, rows, (row) => addFilter(property, row.__key), empty);
  t.dataset.property = property;
  box.append(t);
  // Rows from before (another database, earlier) still show, with the note.
  if (geoText && (rows.length || !needed)) {
    const tr = el("tr", undefined, "note");
    const td = el("td", geoText);
    td.colSpan = cols.length + 1;
    tr.append(td);
    t.append(tr);
  }
  if (rows.length) {
    const more = button("Details", () => details(title, property, cols, extra), "more");
    more.setAttribute("aria-label", `${title}: details`);
    box.append(more);
  }
  return box;
}

async function tables() {
  const built = await Promise.all(TABLES.map(table));
  $("#tables").replaceChildren(...built);
}

const list = { rows: [], shown: [], page: 0, sort: null, dir: -1 };

async function details(title, property, cols, extra) {
  $("#details-title").textContent = title;
  $("#details-search").value = "";
  Object.assign(list, { title, property, cols, extra, rows: [], page: 0, sort: cols[0], dir: -1 });
  $("#details-note").textContent = "Loading…";
  $("#details-table").replaceChildren();
  $("#details").showModal();
  try {
    // Every row, 1000 at a time (the API's page size), up to 10,000.
    for (let page = 1; page <= 10; page++) {
      const res = await api("stats/breakdown", { ...query(extra), property, metrics: cols.join(","), limit: 1000, page });
      list.total = res.total_rows;
      list.rows.push(...keyed(res.results, property).filter(nonZero(cols)));
      if (res.results.length < 1000) break;
    }
  } catch (e) {
    $("#details-note").textContent = e.message;
    return;
  }
  document.body.dataset.details = "1";
  detailsRender();
}

// Ties in the API's order: the value, by code point.
const byText = (a, b) => (a.__key < b.__key ? -1 : a.__key > b.__key ? 1 : 0);

function sortValue(v) {
  if (v && typeof v === "object") return Object.values(v).reduce((a, b) => a + b, 0);
  return v ?? -Infinity;
}

function detailsRows() {
  const term = $("#details-search").value.trim().toLowerCase();
  const rows = list.rows.filter((r) => !term || r.__key.toLowerCase().includes(term));
  const k = list.sort;
  rows.sort((a, b) => {
    const x = k === "__key" ? byText(a, b) : sortValue(a[k]) - sortValue(b[k]);
    return list.dir * x || byText(a, b);
  });
  return rows;
}

function detailsRender() {
  const rows = (list.shown = detailsRows());
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  list.page = Math.min(list.page, pages - 1);
  const slice = rows.slice(list.page * PAGE_SIZE, (list.page + 1) * PAGE_SIZE);
  const keyName = NAMES[list.property] || list.property.split(":").pop();
  const t = dataTable("", keyName, list.cols, slice, (row) => {
    $("#details").close();
    addFilter(list.property, row.__key);
  });
  // Column headers sort (again: the other way round).
  t.querySelectorAll("th").forEach((th, i) => {
    const key = i === 0 ? "__key" : list.cols[i - 1];
    const b = button(th.textContent, () => {
      list.dir = list.sort === key ? -list.dir : key === "__key" ? 1 : -1;
      list.sort = key;
      list.page = 0;
      detailsRender();
      $(`#details-table th:nth-child(${i + 1}) button`).focus();
    }, "sort");
    th.replaceChildren(b);
    if (list.sort === key) th.setAttribute("aria-sort", list.dir > 0 ? "ascending" : "descending");
  });
  $("#details-table").replaceChildren(t);
  const first = rows.length ? list.page * PAGE_SIZE + 1 : 0;
  $("#details-page").textContent = `${first}–${list.page * PAGE_SIZE + slice.length} of ${rows.length.toLocaleString()}`;
  $("#details-prev").disabled = list.page === 0;
  $("#details-next").disabled = list.page >= pages - 1;
  $("#details-note").textContent = list.total > 10000
    ? `The first 10,000 of ${list.total.toLocaleString()} rows.` : "";
}

// The CSV of what the list shows (search and order applied, every page), in
// the export command's dialect: a header row, "\n" line ends, fields quoted
// when they hold a comma, quote or line break. A cell that a spreadsheet
// would run as a formula (= + - @) gets a leading apostrophe.
function csvCell(v) {
  let s = v && typeof v === "object" ? Object.entries(v).map(([c, a]) => `${a} ${c}`).join(" ") : String(v ?? "");
  if (/^[=+\-@]/.test(s)) s = "'" + s;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function downloadCsv() {
  const key = list.property.startsWith("event:props:") ? list.property.slice(12) : list.property.split(":").pop();
  const lines = [[key, ...list.cols].join(",")];
  for (const r of list.shown) lines.push([r.__key, ...list.cols.map((m) => r[m])].map(csvCell).join(","));
  const a = el("a");
  a.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  const range = view.period === "custom" ? `${view.from}_${view.to}` : view.period;
  a.download = `${view.site}-${list.title.toLowerCase().replace(/\W+/g, "-")}-${range}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// -- custom events and their props ------------------------------------------

async function events(totalVisitors) {
  const res = await api("stats/breakdown", { ...query(), property: "event:name", metrics: "visitors,events", limit: 100 });
  const rows = keyed(res.results, "event:name").filter((r) => !BUILTIN_EVENTS.has(r.__key)).filter(nonZero(["events"]));
  // Conversion: the share of the period's visitors who sent the event.
  rows.forEach((r) => { r.conversion = totalVisitors ? Math.round(1000 * r.visitors / totalVisitors) / 10 : 0; });
  HEAD.conversion = "Conversion";
  const choice = $("#event-choice");
  const keep = rows.some((r) => r.__key === choice.value) ? choice.value : rows.length ? rows[0].__key : "";
  choice.replaceChildren(...rows.map((r) => el("option", r.__key)));
  choice.value = keep;
  $("#props-panel").hidden = !rows.length;
  const t = dataTable("Events", "Event", ["visitors", "events", "conversion"], rows.map((r) => ({ ...r, conversion: r.conversion + "%" })),
    (row) => { choice.value = row.__key; props(); }, "No custom events in this period");
  t.dataset.property = "event:name";
  $("#events-table").replaceChildren(t);
  await props();
}

async function props() {
  const name = $("#event-choice").value;
  document.body.dataset.props = "";
  if (!name) { $("#props-tables").replaceChildren(); return; }
  const r = await fetch(`/dashboard/props.json?${new URLSearchParams({ site_id: view.site, ...period(), event: name })}`);
  if (!r.ok) throw new Error(await r.text());
  const keys = (await r.json()).props.slice(0, 6);
  const extra = `event:name==${name}`;
  const built = await Promise.all(keys.map(async (key) => {
    const property = `event:props:${key}`;
    const res = await api("stats/breakdown", { ...query(extra), property, metrics: "visitors,events", limit: 10 });
    const rows = keyed(res.results, property).filter(nonZero(["visitors"]));
    const t = dataTable(key, key, ["visitors", "events"], rows, (row) => addFilter(property, row.__key));
    t.dataset.property = property;
    return t;
  }));
  if (!keys.length) built.push(el("p", `“${name}” has no properties in this period.`, "hint"));
  if ($("#event-choice").value !== name) return; // another event was chosen meanwhile
  $("#props-tables").replaceChildren(...built);
  document.body.dataset.props = name;
}

// -- the world map -----------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";
const NO_GEOIP = "No GeoIP database is configured, so visits have no country, region or city. " +
  "GeoIP is off ([geoip] database = \"none\" in analyticsd.toml): set it to \"\" for the " +
  "bundled country database, or to a City .mmdb file (DB-IP's free IP to City Lite, or " +
  "MaxMind's GeoLite2 City) for regions and cities too, and reload the daemon; visits from " +
  "then on are placed.";
let geoip = true;
// The GeoIP database in use (/dashboard/setup.json): whether the region and
// city panels can ever fill, and whose data the countries are.
let geo = { database: "bundled", loaded: true, cities: false };
const GEO_PANELS = { "visit:country": "Countries", "visit:region": "Regions", "visit:city": "Cities" };

// [text, whether the panel cannot fill without a configuration change]
function geoNote(property) {
  const what = GEO_PANELS[property];
  if (!what) return ["", false];
  if (geo.database === "off") return [NO_GEOIP, true];
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
let world = null; // alpha-2 code -> SVG path (Natural Earth via world-atlas)

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function countryPath(code, d, visitors, top) {
  const p = svgEl("path", { d, class: visitors ? "country seen" : "country" });
  const title = svgEl("title", {});
  title.textContent = visitors ? `${code}: ${visitors.toLocaleString()} visitors` : code;
  p.append(title);
  if (!visitors) return p;
  p.setAttribute("fill-opacity", (0.3 + 0.7 * visitors / top).toFixed(2));
  p.setAttribute("tabindex", "0");
  p.setAttribute("role", "button");
  p.setAttribute("aria-label", `${code}: ${visitors.toLocaleString()} visitors (filter by it)`);
  p.dataset.country = code;
  const pickIt = () => addFilter("visit:country", code);
  p.addEventListener("click", pickIt);
  p.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pickIt(); }
  });
  return p;
}

async function worldMap() {
  if (!geoip) { $("#map").replaceChildren(el("p", NO_GEOIP, "hint")); return; }
  if (!world) {
    const r = await fetch("/dashboard/world.json");
    world = await r.json();
  }
  const res = await api("stats/breakdown", { ...query(), property: "visit:country", metrics: "visitors", limit: 300 });
  const seen = new Map(res.results.filter((r) => r.visitors).map((r) => [r.country, r.visitors]));
  const top = Math.max(1, ...seen.values());
  const svg = svgEl("svg", { viewBox: "0 0 960 400", class: "map", role: "group", "aria-label": "Visitors by country" });
  for (const [code, d] of Object.entries(world)) svg.append(countryPath(code, d, seen.get(code), top));
  $("#map").replaceChildren(svg);
}

// -- realtime, funnel, render -----------------------------------------------

async function realtime() {
  if (!view.site) return;
  try {
    $("#current").textContent = (await api("stats/realtime/visitors", { site_id: view.site })).toLocaleString();
  } catch (e) { /* the next tick tries again */ }
}

async function funnel() {
  const site = sites.find((s) => s.id === view.site);
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

async function section(work, where) {
  try {
    await work;
  } catch (e) {
    $(where).replaceChildren(el("p", e.message, "hint"));
    if (where === "#events-table") $("#props-tables").replaceChildren();
  }
}

function controls() {
  $("#site").value = view.site;
  $("#period").value = view.period;
  $("#compare").checked = view.compare;
  $("#imported").checked = view.imported;
  $("#range").hidden = view.period !== "custom";
  if (view.period === "custom") { $("#from").value = view.from; $("#to").value = view.to; }
}

async function render() {
  const mine = ++renders;
  document.body.dataset.ready = "";
  $("#error").hidden = true;
  controls();
  filtersBar();
  try {
    // The events panel and the funnel read per-event rows, which an old
    // period may not have: their errors stay in their own section.
    await Promise.all([
      cards().then((total) => section(events(total), "#events-table")),
      chart(), tables(), section(funnel(), "#funnel-steps"), section(worldMap(), "#map"), realtime(),
    ]);
    if (mine === renders) document.body.dataset.ready = "1";
  } catch (e) {
    if (mine !== renders) return;
    $("#error").textContent = e.message;
    $("#error").hidden = false;
    document.body.dataset.ready = "error";
  }
}

function wire() {
  $("#site").addEventListener("change", () => go({ site: $("#site").value, filters: [] }));
  $("#period").addEventListener("change", () => {
    const p = $("#period").value;
    if (p === "custom" && !(view.from && view.to)) {
      view.to = new Date().toISOString().slice(0, 10);
      view.from = new Date(Date.now() - 6 * 864e5).toISOString().slice(0, 10);
    }
    go({ period: p });
  });
  for (const id of ["#from", "#to"]) $(id).addEventListener("change", () => {
    if ($("#from").value && $("#to").value) go({ from: $("#from").value, to: $("#to").value });
  });
  $("#compare").addEventListener("change", () => go({ compare: $("#compare").checked }));
  $("#imported").addEventListener("change", () => go({ imported: $("#imported").checked }));
  $("#interval").addEventListener("change", () => go({ interval: $("#interval").value }));
  $("#clear-filters").addEventListener("click", () => go({ filters: [] }));
  $("#funnel").addEventListener("change", funnel);
  $("#event-choice").addEventListener("change", () => props().catch((e) => { $("#error").textContent = e.message; $("#error").hidden = false; }));
  $("#details-close").addEventListener("click", () => $("#details").close());
  $("#details-search").addEventListener("input", () => { list.page = 0; detailsRender(); });
  $("#details-prev").addEventListener("click", () => { list.page--; detailsRender(); });
  $("#details-next").addEventListener("click", () => { list.page++; detailsRender(); });
  $("#details-csv").addEventListener("click", downloadCsv);
  $("#details").addEventListener("close", () => { document.body.dataset.details = ""; });
  // Back and forward, and a hash edited by hand (a traversal may fire both).
  const fromUrl = () => {
    const v = readView();
    if (writeHash(v) !== writeHash(view)) { view = v; render(); }
  };
  window.addEventListener("popstate", fromUrl);
  window.addEventListener("hashchange", fromUrl);
}

async function start() {
  sites = (await api("sites", {})).sites;
  const setup = await fetch("/dashboard/setup.json");
  if (setup.ok) {
    geo = await setup.json();
    geoip = geo.geoip;
  }
  $("#site").replaceChildren(...sites.map((s) => el("option", s.id)));
  view = readView();
  wire();
  await render();
  setInterval(realtime, 10000);
}

start().catch((e) => { $("#error").textContent = e.message; $("#error").hidden = false; });
