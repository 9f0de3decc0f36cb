// dashboard.js - /dashboard/MERCHANT: one site's figures, every one of them
// asked of /api/v1/query with the key this page holds (?key= of a shared
// link, else the one kept by the sign-in form, else the admin key).
//
// The view lives in the URL (?range=7d&interval=day&page=/pricing...) so
// that it can be shared; dates are the site's, in its time zone, which the
// first answer's meta names.
'use strict';

const merchant = Number(location.pathname.split('/').pop());
const params = new URLSearchParams(location.search);
const linkKey = params.get('key');
let key = linkKey || Keys.site(merchant) || Keys.admin();
let zone = 'UTC';
let today = null;          // the site's date, YYYY-MM-DD
let chart = null;
let visitsChart = null;
let loadSeq = 0;           // a newer view supersedes answers still arriving

const FILTER_FIELDS = ['event', 'page', 'referrer', 'country', 'device', 'browser', 'os'];
const LIVE_MS = 5000;
const DAY_MS = 86400000;

// ---- dates -------------------------------------------------------------

function dateIn(tz, d) {
  // en-CA writes YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}
function addDays(date, n) {
  return new Date(Date.parse(date + 'T00:00:00Z') + n * DAY_MS).toISOString().slice(0, 10);
}
function addMonths(date, n) {
  const d = new Date(date + 'T00:00:00Z');
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
}
// "5 Dec 2026", "1 – 30 Oct 2026", "5 Jan – 4 Dec 2026"
function rangeLabel(r) {
  const f = (d, o) => new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', ...o }).format(new Date(d + 'T00:00:00Z'));
  const full = { day: 'numeric', month: 'short', year: 'numeric' };
  if (r.from === r.to) return f(r.from, full);
  const sameYear = r.from.slice(0, 4) === r.to.slice(0, 4);
  const sameMonth = sameYear && r.from.slice(0, 7) === r.to.slice(0, 7);
  return `${f(r.from, sameMonth ? { day: 'numeric' } : sameYear ? { day: 'numeric', month: 'short' } : full)} – ${f(r.to, full)}`;
}
function daysBetween(a, b) { return Math.round((Date.parse(b) - Date.parse(a)) / DAY_MS) + 1; }

// [from, to] (both days included), the previous period, and the intervals
// that suit the range (the first is the default).
function rangeOf(view) {
  let from, to = today;
  switch (view.range) {
    case 'day': from = today; break;
    case '7d': from = addDays(today, -6); break;
    case '30d': from = addDays(today, -29); break;
    case '12mo': from = addMonths(today, -11); break;
    default: from = view.from; to = view.to;
  }
  const days = daysBetween(from, to);
  let prev;
  if (view.range === '12mo') prev = [addMonths(from, -12), addDays(from, -1)];
  else prev = [addDays(from, -days), addDays(from, -1)];
  const intervals = days <= 2 ? ['hour', 'minute'] : days <= 14 ? ['day', 'hour'] : days <= 92 ? ['day', 'week']
    : days <= 800 ? ['month', 'week', 'day'] : ['month', 'week'];
  return { from, to, prev, days, intervals };
}

// ---- the view in the URL -------------------------------------------------

function readView() {
  const p = new URLSearchParams(location.search);
  const view = { range: p.get('range') || '7d', from: p.get('from'), to: p.get('to'), interval: p.get('interval'), filters: [] };
  if (!['day', '7d', '30d', '12mo', 'custom'].includes(view.range)) view.range = '7d';
  if (view.range === 'custom' && !(/^\d{4}-\d\d-\d\d$/.test(view.from || '') && /^\d{4}-\d\d-\d\d$/.test(view.to || '') && view.from <= view.to))
    view.range = '7d';
  for (const f of FILTER_FIELDS) if (p.has(f)) view.filters.push([f, p.get(f)]);
  return view;
}

function writeView(view) {
  const p = new URLSearchParams();
  if (linkKey) p.set('key', linkKey);
  p.set('range', view.range);
  if (view.range === 'custom') { p.set('from', view.from); p.set('to', view.to); }
  if (view.interval) p.set('interval', view.interval);
  for (const [f, v] of view.filters) p.set(f, v);
  history.pushState(null, '', location.pathname + '?' + p.toString());
  load();
}

// ---- queries ---------------------------------------------------------------

function query(body) {
  return api('POST', '/api/v1/query', key, { site_id: merchant, ...body });
}
function withFilters(view, extra) {
  const fs = view.filters.map(([f, v]) => ['is', f, [v]]);
  return extra ? fs.concat([extra]) : fs;
}
const PAGE_VIEWS = ['is', 'event', ['page_view']];
// Plausible's tracker sends "engagement" as a page is left (time on page,
// scroll depth): stored, but no event of the merchant's, so the Events
// panel and the Events total leave it out.
const ENGAGEMENT = 'engagement';

// ---- rendering ---------------------------------------------------------------

// points: the difference itself, in percentage points, for the bounce rate,
// where a rise is the bad news (coloured as a fall of the other figures).
function change(now, before, points) {
  if (points) {
    if (now == null || before == null) return el('span', { class: 'change flat', title: 'against the previous period' }, now != null ? 'no earlier data' : '');
    const d = Math.round(now - before);
    return el('span', { class: 'change ' + (d > 0 ? 'down' : d < 0 ? 'up' : 'flat'), title: 'against the previous period, in percentage points' },
      (d > 0 ? '+' : d < 0 ? '−' : '±') + Math.abs(d) + ' pp');
  }
  if (!before) return el('span', { class: 'change flat', title: 'against the previous period' }, now ? 'no earlier data' : '');
  const pct = Math.round((now - before) / before * 100);
  const cls = pct > 0 ? 'up' : pct < 0 ? 'down' : 'flat';
  return el('span', { class: 'change ' + cls, title: 'against the previous period' },
    (pct > 0 ? '+' : pct < 0 ? '−' : '±') + Math.abs(pct) + '%');
}

// The totals' metrics, in the order renderTotals reads them. Bounce rate
// and visit duration are null when the period has no visit.
const TOTALS = ['count', 'users', 'visits', 'sum:value', 'bounce_rate', 'visit_duration'];

function renderTotals(cur, prev, pvNow, pvBefore, engNow, engBefore) {
  const box = document.getElementById('totals');
  const m = cur.results[0] ? cur.results[0].metrics : [0, 0, 0, 0, null, null];
  const p = prev.results[0] ? prev.results[0].metrics : [0, 0, 0, 0, null, null];
  const tiles = [
    ['visitors', 'Visitors', m[1], p[1], formatTotal],
    ['visits', 'Visits', m[2], p[2], formatTotal],
    ['pageviews', 'Page views', pvNow, pvBefore, formatTotal],
    ['bounce', 'Bounce rate', m[4], p[4], formatPercent, true],
    ['duration', 'Visit duration', m[5], p[5], formatDuration],
    ['events', 'Events', m[0] - engNow, p[0] - engBefore, formatTotal],
  ];
  if ((m[3] || 0) !== 0 || (p[3] || 0) !== 0) tiles.push(['revenue', 'Revenue', m[3] || 0, p[3] || 0, (v) => fmtMoney.format(v)]);
  box.replaceChildren(...tiles.map(([id, label, now, before, fmt, points]) =>
    el('div', { class: 'tile', id: 'total-' + id },
      el('div', { class: 'label' }, label),
      el('div', { class: 'value', 'data-value': now == null ? '' : String(now), title: now == null ? 'no visit' : fmtInt.format(now) }, fmt(now)),
      change(now, before, points))));
}

// 41%; "–" for no visit.
function formatPercent(v) { return v == null ? '–' : fmtInt.format(v) + '%'; }
// 45s, 3m 05s, 1h 02m; "–" for no visit.
function formatDuration(v) {
  if (v == null) return '–';
  const s = Math.round(v);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s % 3600 / 60)).padStart(2, '0')}m`;
}

function renderTable(id, title, fieldLabel, field, rows, cols, opts = {}) {
  const box = document.getElementById(id);
  const head = el('div', { class: 'panel-head' }, el('h2', {}, title), opts.tabs || null);
  if (!rows.length) {
    box.replaceChildren(head, el('p', { class: 'muted empty' }, 'Nothing in this period.'));
    return;
  }
  const max = Math.max(...rows.map((r) => r.metrics[0] || 0), 1);
  const table = el('table', { class: 'rows', 'data-field': field },
    el('thead', {}, el('tr', {}, el('th', {}, fieldLabel), ...cols.map((c) => el('th', { class: 'num' }, c.label)))));
  const tbody = el('tbody');
  for (const r of rows) {
    const value = r.dimensions[0];
    const shown = value === '' ? (opts.empty || '(none)') : (opts.name ? opts.name(value) : value);
    const bar = el('span', { class: 'bar' });
    bar.style.width = ((r.metrics[0] || 0) / max * 100).toFixed(1) + '%';
    const tr = el('tr', { 'data-value': value, tabindex: '0', title: `Filter by ${fieldLabel.toLowerCase()}: ${shown}` },
      el('td', { class: 'name' }, bar, el('span', { class: 'text' }, shown)),
      ...cols.map((c, i) => el('td', { class: 'num', 'data-value': String(r.metrics[i]) }, c.fmt(r.metrics[i]))));
    const filter = () => {
      const view = readView();
      view.filters = view.filters.filter(([f]) => f !== field).concat([[field, value]]);
      writeView(view);
    };
    tr.addEventListener('click', filter);
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') filter(); });
    tbody.append(tr);
  }
  table.append(tbody);
  box.replaceChildren(head, table);
}

function renderFilters(view) {
  const box = document.getElementById('filters');
  box.replaceChildren(...view.filters.map(([f, v]) =>
    el('span', { class: 'chip' }, `${f} is ${v === '' ? '(none)' : v}`,
      el('button', { class: 'remove', 'aria-label': `remove the ${f} filter`, onclick: () => {
        const w = readView();
        w.filters = w.filters.filter(([g]) => g !== f);
        writeView(w);
      } }, '×'))));
}

// Axis labels in one format: 4,000 or 50K, never both on one axis.
function axisValues(splits) {
  const big = splits.some((v) => Math.abs(v) >= 10000);
  return splits.map((v) => (big ? fmtCompact.format(v) : fmtInt.format(v)));
}

// The series of an answer by interval with n metrics: bucket starts in
// seconds, and one array per metric, buckets still to come left blank (not
// drawn as zeros).
function seriesOf(res, n) {
  const xs = [], ys = Array.from({ length: n }, () => []);
  const now = Date.now() / 1000;
  for (const r of res.results) {
    const t = Date.parse(r.time) / 1000;
    xs.push(t);
    r.metrics.forEach((v, i) => ys[i].push(t > now ? null : v));
  }
  return [xs, ...ys];
}

// A uPlot chart in box (replacing old), with the time axis of interval
// and the legend's first cell showing rangeText while the pointer is
// elsewhere. null when uPlot is not installed (the box says so).
function drawChart(box, old, interval, rangeText, data, series, axes, scales) {
  if (old) old.destroy();
  box.replaceChildren();
  box.dataset.points = String(data[0].length);
  if (typeof uPlot === 'undefined') { box.append(el('p', { class: 'error' }, 'The chart library is not installed (npm ci in examples/server/dashboard).')); return null; }
  const width = Math.max(box.clientWidth, 280);
  const timeFmt = interval === 'minute' || interval === 'hour' ? '{HH}:{mm}' : interval === 'month' ? '{MMM} {YYYY}' : '{MMM} {D}';
  // Hours over several days: midnights are labelled with their date.
  const xLabel = (s) => {
    const d = uPlot.tzDate(new Date(s * 1000), zone);
    const t = uPlot.fmtDate(timeFmt)(d);
    return t === '00:00' && data[0].length > 25 ? uPlot.fmtDate('{MMM} {D}')(d) : t;
  };
  return new uPlot({
    width, height: width < 500 ? 200 : 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), zone),
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] }, ...scales },
    series: [
      { label: '', value: (u, ts) => ts == null ? rangeText : uPlot.fmtDate(interval === 'minute' || interval === 'hour' ? '{MMM} {D}, {HH}:{mm}' : interval === 'month' ? '{MMMM} {YYYY}' : '{WWW} {MMM} {D}')(uPlot.tzDate(new Date(ts * 1000), zone)) },
      ...series,
    ],
    axes: [
      { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' },
        values: (u, splits) => splits.map(xLabel) },
      ...axes,
    ],
  }, data, box);
}

const COUNT_AXIS = { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, size: 56,
  values: (u, splits) => axisValues(splits) };
// A series' legend value: the period's total while the pointer is elsewhere.
const legendValue = (total, fmt) => (u, v, si, idx) => (idx == null ? fmt(total) : v == null ? '–' : fmt(v));

// totals: what the legends show while the pointer is elsewhere.
function renderChart(res, interval, totals) {
  chart = drawChart(document.getElementById('chart'), chart, interval, totals.range, seriesOf(res, 2), [
    { label: 'Page views', stroke: '#4f46e5', width: 2, fill: 'rgba(79,70,229,0.08)', value: legendValue(totals.pageviews, (v) => fmtInt.format(v)) },
    { label: 'Visitors', stroke: '#0d9488', width: 2, value: legendValue(totals.visitors, (v) => fmtInt.format(v)) },
  ], [COUNT_AXIS]);
}

// Visits by interval, and their bounce rate on a percent axis at the right.
function renderVisitsChart(res, interval, totals) {
  visitsChart = drawChart(visitsChartBox(), visitsChart, interval, totals.range, seriesOf(res, 2), [
    { label: 'Visits', stroke: '#ea580c', width: 2, fill: 'rgba(234,88,12,0.08)', value: legendValue(totals.visits, (v) => fmtInt.format(v)) },
    { label: 'Bounce rate', scale: 'pct', stroke: '#6b7280', width: 1.5, dash: [4, 4], value: legendValue(totals.bounce, formatPercent) },
  ], [COUNT_AXIS, { scale: 'pct', side: 1, stroke: '#555', grid: { show: false }, ticks: { stroke: '#ddd' }, size: 48,
    values: (u, splits) => splits.map((v) => `${fmtInt.format(v)}%`) }], { pct: { range: [0, 100] } });
}
function visitsChartBox() { return document.getElementById('visits-chart'); }

// ---- loading -----------------------------------------------------------------

const TECH_TABS = [['device', 'Devices'], ['browser', 'Browsers'], ['os', 'Operating systems']];
let techField = 'device';

async function loadTech(view, r, seq) {
  const res = await query({ metrics: ['users', 'count'], date_range: [r.from, r.to], dimensions: [techField], filters: withFilters(view, PAGE_VIEWS), limit: 10 });
  if (seq !== loadSeq) return;
  const tabs = el('div', { class: 'tabs', role: 'tablist' }, ...TECH_TABS.map(([f, label]) =>
    el('button', { role: 'tab', 'aria-selected': String(f === techField), class: f === techField ? 'on' : '',
      onclick: () => { techField = f; loadTech(readView(), r, loadSeq).catch(showError); } }, label)));
  renderTable('tech', TECH_TABS.find(([f]) => f === techField)[1], TECH_TABS.find(([f]) => f === techField)[1].replace(/s$/, '').replace('Operating system', 'System'),
    techField, res.results, VISITOR_COLS, { tabs, empty: 'unknown' });
}

const VISITOR_COLS = [{ label: 'Visitors', fmt: formatCount }, { label: 'Views', fmt: formatCount }];
const ENTRY_COLS = [{ label: 'Visits', fmt: formatCount }, { label: 'Bounce', fmt: formatPercent }];
const EXIT_COLS = [{ label: 'Visits', fmt: formatCount }, { label: 'Duration', fmt: formatDuration }];

async function load() {
  const seq = ++loadSeq;
  const view = readView();
  const r = rangeOf(view);
  if (!r.intervals.includes(view.interval)) view.interval = r.intervals[0];
  // Controls.
  for (const b of document.querySelectorAll('[data-range]')) b.classList.toggle('on', b.dataset.range === view.range);
  const custom = document.getElementById('custom');
  custom.hidden = view.range !== 'custom';
  document.getElementById('from').value = r.from;
  document.getElementById('to').value = r.to;
  const sel = document.getElementById('interval');
  sel.replaceChildren(...r.intervals.map((i) => el('option', { value: i }, i)));
  sel.value = view.interval;
  document.getElementById('zone').textContent = `${rangeLabel(r)} · ${zone}`;
  renderFilters(view);

  const cur = [r.from, r.to];
  const fs = withFilters(view);
  const pvf = withFilters(view, PAGE_VIEWS);
  const totals = TOTALS;
  const engf = withFilters(view, ['is', 'event', [ENGAGEMENT]]);
  const [tNow, tPrev, pvNow, pvPrev, series, pages, refs, countries, events, engNow, engPrev, visits, entries, exits] = await Promise.all([
    query({ metrics: totals, date_range: cur, filters: fs }),
    query({ metrics: totals, date_range: r.prev, filters: fs }),
    query({ metrics: ['count'], date_range: cur, filters: pvf }),
    query({ metrics: ['count'], date_range: r.prev, filters: pvf }),
    query({ metrics: ['count', 'users'], date_range: cur, interval: view.interval, filters: pvf }),
    query({ metrics: ['users', 'count'], date_range: cur, dimensions: ['page'], filters: pvf, limit: 10 }),
    query({ metrics: ['users', 'count'], date_range: cur, dimensions: ['referrer'], filters: pvf, limit: 10 }),
    query({ metrics: ['users', 'count'], date_range: cur, dimensions: ['country'], filters: pvf, limit: 10 }),
    query({ metrics: ['count', 'users', 'sum:value'], date_range: cur, dimensions: ['event'], filters: fs, limit: 21 }),
    query({ metrics: ['count'], date_range: cur, filters: engf }),
    query({ metrics: ['count'], date_range: r.prev, filters: engf }),
    // Visits: a filter applies to a visit's first event (event: visits
    // holding one); entry and exit pages are a visit's first and last page.
    query({ metrics: ['visits', 'bounce_rate'], date_range: cur, interval: view.interval, filters: fs }),
    query({ metrics: ['visits', 'bounce_rate'], date_range: cur, dimensions: ['entry_page'], filters: fs, limit: 10 }),
    query({ metrics: ['visits', 'visit_duration'], date_range: cur, dimensions: ['exit_page'], filters: fs, limit: 10 }),
  ]);
  if (seq !== loadSeq) return;
  const pvCount = (res) => (res.results[0] ? res.results[0].metrics[0] : 0);
  renderTotals(tNow, tPrev, pvCount(pvNow), pvCount(pvPrev), pvCount(engNow), pvCount(engPrev));
  const eventRows = events.results.filter((x) => x.dimensions[0] !== ENGAGEMENT).slice(0, 20);
  renderChart(series, view.interval, { range: rangeLabel(r), pageviews: pvCount(pvNow),
    visitors: tNow.results[0] ? tNow.results[0].metrics[1] : 0 });
  const tm = tNow.results[0] ? tNow.results[0].metrics : [0, 0, 0, 0, null, null];
  renderVisitsChart(visits, view.interval, { range: rangeLabel(r), visits: tm[2], bounce: tm[4] });
  renderTable('pages', 'Top pages', 'Page', 'page', pages.results, VISITOR_COLS);
  renderTable('entries', 'Entry pages', 'Page', 'page', entries.results, ENTRY_COLS, { empty: 'no page view' });
  renderTable('exits', 'Exit pages', 'Page', 'page', exits.results, EXIT_COLS, { empty: 'no page view' });
  renderTable('referrers', 'Referrers', 'Source', 'referrer', refs.results, VISITOR_COLS, { empty: 'Direct / none' });
  const regions = new Intl.DisplayNames(['en'], { type: 'region' });
  renderTable('countries', 'Countries', 'Country', 'country', countries.results, VISITOR_COLS,
    { empty: 'unknown', name: (c) => { try { return `${regions.of(c)} (${c})`; } catch (e) { return c; } } });
  const hasRevenue = eventRows.some((x) => x.metrics[2]);
  const eventCols = [{ label: 'Events', fmt: formatCount }, { label: 'Visitors', fmt: formatCount }];
  if (hasRevenue) eventCols.push({ label: 'Revenue', fmt: (v) => (v ? fmtMoney.format(v) : '–') });
  renderTable('events', 'Events', 'Name', 'event', eventRows, eventCols);
  await loadTech(view, r, seq);
  // Which view is drawn: scripts and tests wait for it to change.
  document.body.dataset.loaded = String(seq);
}

async function refreshLive() {
  const now = Date.now();
  const range = [new Date(now - 300000).toISOString().replace(/\.\d+Z$/, 'Z'), new Date(now + 1000).toISOString().replace(/\.\d+Z$/, 'Z')];
  // Events as the Events total counts them: engagement left out.
  const [res, eng] = await Promise.all([query({ metrics: ['count'], date_range: range }),
    query({ metrics: ['count'], date_range: range, filters: [['is', 'event', [ENGAGEMENT]]] })]);
  const count = (r) => (r.results[0] ? r.results[0].metrics[0] : 0);
  const n = count(res) - count(eng);
  const span = document.getElementById('live-count');
  span.textContent = formatCount(n);
  span.dataset.value = String(n);
  return res;
}

function showError(e) {
  if (e && (e.status === 401 || e.status === 403)) {
    denied(e.status === 401 ? 'This key opens no site.' : `This key does not open site ${merchant}.`);
    return;
  }
  const box = document.getElementById('filters');
  box.replaceChildren(el('p', { class: 'error', role: 'alert' }, 'The server answered: ' + (e ? e.message : 'nothing')));
}

function denied(message) {
  document.getElementById('app').hidden = true;
  document.getElementById('live').hidden = true;
  document.getElementById('denied').hidden = false;
  const err = document.getElementById('denied-error');
  err.textContent = message || '';
  err.hidden = !message;
  document.title = 'Sign in · tsagg';
}

async function start() {
  document.getElementById('site-name').textContent = `site ${merchant}`;
  if (!key) { denied(''); return; }
  let first;
  try {
    first = await refreshLive();   // also tells the site's zone and domain
  } catch (e) {
    if (e.status === 401 || e.status === 403) { showError(e); return; }
    throw e;
  }
  zone = first.meta.timezone || 'UTC';
  today = dateIn(zone, new Date());
  if (first.meta.domain) {
    document.getElementById('site-name').textContent = first.meta.domain;
    document.title = `${first.meta.domain} · tsagg`;
    if (!linkKey && Keys.site(merchant)) Keys.setSite(merchant, key, first.meta.domain);
  }
  document.getElementById('app').hidden = false;
  for (const b of document.querySelectorAll('[data-range]'))
    b.addEventListener('click', () => {
      const view = readView();
      view.range = b.dataset.range;
      view.interval = null;
      if (view.range === 'custom') { const r = rangeOf(readView()); view.from = r.from; view.to = r.to; }
      writeView(view);
    });
  document.getElementById('custom').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const view = readView();
    view.range = 'custom';
    view.from = document.getElementById('from').value;
    view.to = document.getElementById('to').value;
    view.interval = null;
    if (view.from && view.to && view.from <= view.to) writeView(view);
  });
  document.getElementById('interval').addEventListener('change', (ev) => {
    const view = readView();
    view.interval = ev.target.value;
    writeView(view);
  });
  window.addEventListener('popstate', () => load().catch(showError));
  let width = window.innerWidth;
  window.addEventListener('resize', () => {
    if (Math.abs(window.innerWidth - width) < 40) return;
    width = window.innerWidth;
    for (const [c, box] of [[chart, document.getElementById('chart')], [visitsChart, visitsChartBox()]])
      if (c) c.setSize({ width: Math.max(box.clientWidth, 280), height: box.clientWidth < 500 ? 200 : 260 });
  });
  setInterval(() => { if (!document.hidden) refreshLive().catch(() => {}); }, LIVE_MS);
  await load();
}

document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const k = document.getElementById('key').value.trim();
  try {
    await api('POST', '/api/v1/query', k, { site_id: merchant, metrics: ['count'], date_range: 'day' });
  } catch (e) {
    denied(e.status === 401 ? 'No site has this key.' : e.status === 403 ? `This key does not open site ${merchant}.` : e.message);
    return;
  }
  Keys.setSite(merchant, k, '');
  const p = new URLSearchParams(location.search);
  p.delete('key');
  location.href = location.pathname + (p.toString() ? '?' + p : '');
});

start().catch(showError);
