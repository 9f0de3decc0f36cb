// clients.mjs - real tracker clients sending to a tsagg-server, for
// examples/server/test/clients.sh:
//   node clients.mjs BASE_URL SITE_JSON
// universal-analytics (one hit to /collect, a batch to /batch), GA4
// Measurement Protocol bodies as Google documents them (/mp/collect and
// /debug/mp/collect), and @plausible-analytics/tracker itself, run under a
// minimal browser shim, posting to /api/event. Prints one JSON object of
// what each client was answered. Every request is bounded in time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [base, siteFile] = process.argv.slice(2);
const site = JSON.parse(readFileSync(siteFile, 'utf8'));
const out = {};
const TIMEOUT_MS = 5000;
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0';

// --- Universal Analytics, through the npm client.
const ua = require('universal-analytics');
function uaSend(visitor) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
    visitor.send((err) => { clearTimeout(timer); resolve(err ? String(err) : 'ok'); });
  });
}
const opts = { hostname: base, http: true, headers: { 'User-Agent': FIREFOX } };
out.ua_collect = await uaSend(ua(site.ua_tid, opts).pageview('/ua/single', site.domain, 'Single'));
out.ua_batch = await uaSend(ua(site.ua_tid, opts)
  .pageview('/ua/batch-1', site.domain, 'One')
  .pageview('/ua/batch-2', site.domain, 'Two')
  .event('video', 'play', 'intro', 3));

// --- GA4 Measurement Protocol, bodies from Google's reference.
const ga = `${base}/mp/collect?measurement_id=${site.measurement_id}&api_secret=${site.api_secret}`;
const gaDebug = ga.replace('/mp/collect', '/debug/mp/collect');
const gaBody = {
  client_id: '1234567890.1700000000',
  user_id: 'customer-77',
  events: [
    { name: 'page_view', params: { page_location: `https://${site.domain}/ga4/landing`,
      page_title: 'Landing', engagement_time_msec: 1200, session_id: '1700000000' } },
    { name: 'purchase', params: { currency: 'USD', value: 42.5, transaction_id: 'T_12345',
      items: [{ item_id: 'SKU_12345', item_name: 'Stan and Friends Tee', price: 42.5, quantity: 1 }] } },
  ],
};
async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers,
    signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}
out.ga4 = (await post(ga, gaBody)).status;
const dbg = await post(gaDebug, { client_id: 'x', events: [{ name: '_reserved', params: {} }] });
out.ga4_debug = { status: dbg.status, messages: JSON.parse(dbg.body).validationMessages };

// --- Plausible's own tracker, in a shim of the browser APIs it reads.
globalThis.window = globalThis;
globalThis.addEventListener ??= () => {};
globalThis.location = new URL(`https://${site.domain}/plausible/page?ref=x`);
globalThis.document = {
  referrer: 'https://news.example/story', visibilityState: 'visible', hasFocus: () => true,
  addEventListener() {}, body: {}, documentElement: {},
};
globalThis.history = { pushState() {} };
globalThis.ResizeObserver = class { observe() {} };
globalThis.localStorage = {};
if (!globalThis.navigator) globalThis.navigator = { webdriver: false };
const { init, track } = await import('@plausible-analytics/tracker');
init({ domain: site.domain, endpoint: `${base}/api/event`, autoCapturePageviews: false,
  bindToWindow: false, logging: false });
function plausible(name, options = {}) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
    track(name, { ...options, callback: (r) => { clearTimeout(timer); resolve(r.status ?? String(r.error)); } });
  });
}
out.plausible_pageview = await plausible('pageview');
out.plausible_signup = await plausible('Signup', { props: { plan: 'pro' },
  revenue: { currency: 'EUR', amount: 19.99 } });

console.log(JSON.stringify(out));
