// browser.mjs - the dashboard and Plausible's tracker in a real Chromium,
// for examples/server/test/browser.sh:
//   node browser.mjs BASE_URL SITE_JSON OTHER_SITE_JSON ADMIN_KEY
// Prints "ok: ..." or "FAIL: ..." per check, then one JSON line of what the
// tracker pages were answered ("tracker: {...}"). Exit status 0, 1 (a check
// failed) or 77 (Chromium cannot start here: skipped, with the reason).
// Every wait is bounded; nothing leaves 127.0.0.1: merchants' pages are
// answered by the test itself (page.route), everything else is refused.
//
// SCREENSHOT_DIR=DIR also saves the dashboard at desktop and phone sizes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WAIT_MS, devices, launchChromium, guardedContext, shopContext, trackerAnswer,
  desktopUserAgent } from './shop.mjs';

const [base, siteFile, otherFile, adminKey] = process.argv.slice(2);
const site = JSON.parse(readFileSync(siteFile, 'utf8'));
const other = JSON.parse(readFileSync(otherFile, 'utf8'));
let fails = 0;

function check(what, want, got) {
  const w = JSON.stringify(want), g = JSON.stringify(got);
  if (w === g) console.log(`ok: ${what}`);
  else { console.log(`FAIL: ${what}: expected ${w}, got ${g}`); fails++; }
}

async function query(body, key = site.query_key) {
  const res = await fetch(`${base}/api/v1/query`, { method: 'POST', body: JSON.stringify({ site_id: site.merchant, ...body }),
    headers: { Authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(WAIT_MS) });
  if (res.status !== 200) throw new Error(`query answered ${res.status}: ${await res.text()}`);
  return res.json();
}

const { browser, why } = await launchChromium();
if (!browser) {
  console.log(`${why}: skipped`);
  process.exit(77);
}
const outside = [];
const newContext = (options) => guardedContext(browser, base, outside, options);

// Console errors and uncaught exceptions of a page.
function watch(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

async function loaded(page, after = 0) {
  await page.waitForFunction((n) => Number(document.body.dataset.loaded || 0) > n, after, { timeout: WAIT_MS });
  return Number(await page.evaluate(() => document.body.dataset.loaded));
}

const cellValues = (page, panel) => page.$$eval(`#${panel} tbody tr`, (trs) => trs.map((tr) =>
  [tr.dataset.value, ...[...tr.querySelectorAll('td.num')].map((td) => Number(td.dataset.value))]));
const apiRows = (res) => res.results.map((r) => [r.dimensions[0], ...r.metrics]);
const tile = (page, id) => page.$eval(`#total-${id} .value`, (e) => Number(e.dataset.value));

try {
  // ---- the dashboard through a shared link ----------------------------------
  const desk = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await desk.newPage();
  const errors = watch(page);
  await page.goto(`${base}/dashboard/${site.merchant}?key=${site.query_key}&range=30d`);
  let seq = await loaded(page);
  check('the site\'s domain heads the page', site.domain, await page.textContent('#site-name'));

  // The API's own "30d" (30 days ending today, in the site's zone) is what
  // the dashboard must have asked.
  const totals = (await query({ metrics: ['count', 'users', 'visits', 'sum:value'], date_range: '30d' })).results[0].metrics;
  const pv = (await query({ metrics: ['count'], date_range: '30d', filters: [['is', 'event', ['page_view']]] })).results[0].metrics[0];
  check('totals equal /api/v1/query (events, visitors, visits, revenue, page views)',
    [totals[0], totals[1], totals[2], totals[3], pv],
    [await tile(page, 'events'), await tile(page, 'visitors'), await tile(page, 'visits'), await tile(page, 'revenue'), await tile(page, 'pageviews')]);
  check('there is traffic to show', true, totals[0] > 1000);
  const pages = await query({ metrics: ['users', 'count'], date_range: '30d', dimensions: ['page'], filters: [['is', 'event', ['page_view']]], limit: 10 });
  check('top pages equal /api/v1/query', apiRows(pages), await cellValues(page, 'pages'));
  check('the chart is drawn by uPlot', 1, await page.locator('#chart .uplot canvas').count());
  check('a 30-day range is drawn by day', 'day', await page.inputValue('#interval'));
  check('the chart has one point per day', '30', await page.getAttribute('#chart', 'data-points'));

  // Visits: totals, their chart, entry and exit pages.
  const vt = (await query({ metrics: ['visits', 'bounce_rate', 'visit_duration'], date_range: '30d' })).results[0].metrics;
  check('visit totals equal /api/v1/query (visits, bounce rate, visit duration)', vt,
    [await tile(page, 'visits'), await tile(page, 'bounce'), await tile(page, 'duration')]);
  check('the visits are real numbers (visits > 100, 0 < bounce rate < 100, duration > 0)', true,
    vt[0] > 100 && vt[1] > 0 && vt[1] < 100 && vt[2] > 0);
  const byDay = await query({ metrics: ['visits', 'bounce_rate'], date_range: '30d', interval: 'day' });
  check('the days\' visits add up to the total', vt[0], byDay.results.reduce((a, r) => a + r.metrics[0], 0));
  check('the visits chart is drawn by uPlot', 1, await page.locator('#visits-chart .uplot canvas').count());
  check('the visits chart has one point per day', '30', await page.getAttribute('#visits-chart', 'data-points'));
  const entries = await query({ metrics: ['visits', 'bounce_rate'], date_range: '30d', dimensions: ['entry_page'], limit: 10 });
  check('entry pages equal /api/v1/query', apiRows(entries), await cellValues(page, 'entries'));
  check('ten entry pages', 10, entries.results.length);
  const exits = await query({ metrics: ['visits', 'visit_duration'], date_range: '30d', dimensions: ['visit:exit_page'], limit: 10 });
  check('exit pages equal /api/v1/query', apiRows(exits), await cellValues(page, 'exits'));

  // Clicking a page filters every panel, and the URL keeps it.
  const top = pages.results[0].dimensions[0];
  await page.click(`#pages tbody tr[data-value="${top}"]`);
  seq = await loaded(page, seq);
  check('the filter is in the URL', top, new URL(page.url()).searchParams.get('page'));
  const pf = [['is', 'page', [top]]];
  const fTotals = (await query({ metrics: ['count', 'users', 'sessions', 'sum:value'], date_range: '30d', filters: pf })).results[0].metrics;
  check('filtered totals equal /api/v1/query', [fTotals[0], fTotals[1]], [await tile(page, 'events'), await tile(page, 'visitors')]);
  const fCountries = await query({ metrics: ['users', 'count'], date_range: '30d', dimensions: ['country'], filters: [...pf, ['is', 'event', ['page_view']]], limit: 10 });
  check('filtered countries equal /api/v1/query', apiRows(fCountries), await cellValues(page, 'countries'));
  check('only the clicked page is left', [top], (await cellValues(page, 'pages')).map((r) => r[0]));
  check('the filter shows as a chip', 1, await page.locator('.chip').count());

  // The shared URL opens the same view in a new browser.
  const shared = await newContext({ viewport: { width: 1280, height: 900 } });
  const sp = await shared.newPage();
  const spErrors = watch(sp);
  await sp.goto(page.url());
  await loaded(sp);
  check('a shared link shows the same filtered view', await cellValues(page, 'countries'), await cellValues(sp, 'countries'));
  await shared.close();

  await page.click('.chip .remove');
  seq = await loaded(page, seq);
  check('removing the filter brings every page back', apiRows(pages), await cellValues(page, 'pages'));

  // Another range: Today, by hour; then a custom range.
  await page.click('[data-range="day"]');
  seq = await loaded(page, seq);
  const today = (await query({ metrics: ['count'], date_range: 'day' })).results[0].metrics[0];
  check('today\'s events equal /api/v1/query', today, await tile(page, 'events'));
  check('today is drawn by hour', 'hour', await page.inputValue('#interval'));
  await page.click('[data-range="custom"]');
  seq = await loaded(page, seq);
  const to = await page.inputValue('#to');
  const from = new Date(Date.parse(to) - 9 * 86400000).toISOString().slice(0, 10);
  await page.fill('#from', from);
  await page.click('#custom button[type=submit]');
  seq = await loaded(page, seq);
  const custom = (await query({ metrics: ['count', 'users'], date_range: [from, to] })).results[0].metrics;
  check('a custom range equals /api/v1/query', custom, [await tile(page, 'events'), await tile(page, 'visitors')]);
  await page.selectOption('#interval', 'hour');
  seq = await loaded(page, seq);
  check('the interval can be switched', 'hour', new URL(page.url()).searchParams.get('interval'));

  if (process.env.SCREENSHOT_DIR) {
    await page.goto(`${base}/dashboard/${site.merchant}?key=${site.query_key}&range=30d`);
    seq = await loaded(page);   // a new page counts its loads from 1 again
    await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, 'dashboard-desktop.png'), fullPage: true });
    const phone = await newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const pp = await phone.newPage();
    await pp.goto(`${base}/dashboard/${site.merchant}?key=${site.query_key}&range=7d`);
    await loaded(pp);
    await pp.screenshot({ path: join(process.env.SCREENSHOT_DIR, 'dashboard-phone.png') });
    await phone.close();
  }

  // ---- real trackers: Plausible's, in merchants' pages ----------------------
  const liveBefore = Number(await page.$eval('#live-count', (e) => e.dataset.value));
  const shop = `https://${site.domain}`;
  const shopCtx = (options) => shopContext(browser, base, site.domain, outside, options);
  const events = (p) => trackerAnswer(p, base);
  const answered = {};

  // Desktop: the browser's own User-Agent, less "Headless".
  const dctx = await shopCtx({ userAgent: await desktopUserAgent(browser) });
  const dp = await dctx.newPage();
  const dErrors = watch(dp);
  let ev = events(dp);
  await dp.goto(`${shop}/t/pricing`, { referer: 'https://news.example/story?id=1' });
  answered.desktop_pageview = (await ev).status();
  ev = events(dp);
  await dp.click('#buy');
  answered.desktop_purchase = (await ev).status();
  check('no errors in the tracker page', [], dErrors);

  // A phone.
  const pctx = await shopCtx({ ...devices['Pixel 7'] });
  const pp = await pctx.newPage();
  ev = events(pp);
  await pp.goto(`${shop}/t/home`, { referer: 'https://search.example/?q=shop' });
  answered.phone_pageview = (await ev).status();

  // The headless browser as it comes: a robot, answered but not stored.
  const hctx = await shopCtx({});
  const hp = await hctx.newPage();
  ev = events(hp);
  await hp.goto(`${shop}/t/robot`);
  const hr = await ev;
  answered.headless_pageview = hr.status();
  answered.headless_dropped = (await hr.allHeaders())['x-plausible-dropped'] || '';
  console.log('tracker: ' + JSON.stringify(answered));
  check('the tracker pages were answered as by Plausible', { desktop_pageview: 202, desktop_purchase: 202, phone_pageview: 202, headless_pageview: 202, headless_dropped: '1' }, answered);

  // What the merchant sees of them.
  const rows = async (dim, filters) => (await query({ metrics: ['count'], date_range: 'day', dimensions: [dim], filters })).results
    .map((r) => `${r.dimensions[0]}=${r.metrics[0]}`).sort();
  // Pages under /t/ are the trackers' own: the generated traffic has none.
  const mine = ['is', 'page', ['/t/pricing', '/t/home', '/t/robot']];
  check('pages as visited (the robot left out)', ['/t/home=1', '/t/pricing=2'], await rows('page', [mine]));
  check('events as sent', ['Purchase=1', 'page_view=2'], await rows('event', [mine]));
  check('the referrers\' hosts', ['news.example=2', 'search.example=1'], await rows('referrer', [mine]));
  check('browser, system and device from the desktop\'s User-Agent', [['Chrome=2'], ['Linux=2'], ['desktop=2']],
    [await rows('browser', [['is', 'page', ['/t/pricing']]]), await rows('os', [['is', 'page', ['/t/pricing']]]),
      await rows('device', [['is', 'page', ['/t/pricing']]])]);
  check('browser, system and device from the phone\'s User-Agent', [['Chrome=1'], ['Android=1'], ['mobile=1']],
    [await rows('browser', [['is', 'page', ['/t/home']]]), await rows('os', [['is', 'page', ['/t/home']]]),
      await rows('device', [['is', 'page', ['/t/home']]])]);
  const purchase = (await query({ metrics: ['count', 'sum:value'], date_range: 'day', filters: [['is', 'event', ['Purchase']]] })).results[0].metrics;
  check('the purchase and its revenue', [1, 49.9], purchase);

  // The live figure rises without a reload (it is refreshed every 5 s).
  const want = liveBefore + 3;
  const rose = await page.waitForFunction((n) => Number(document.getElementById('live-count').dataset.value) >= n, want, { timeout: WAIT_MS })
    .then(() => true, () => false);
  check(`the live figure rises from ${liveBefore} by the 3 tracker events`, true, rose);

  // Leaving the desktop's page: the tracker's "engagement" (time on page,
  // scroll depth) is stored, but is no event of the merchant's.
  ev = events(dp);
  await dp.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  answered.desktop_engagement = (await ev).status();
  check('the engagement event answered', 202, answered.desktop_engagement);
  check('the engagement event stored under its name', ['Purchase=1', 'engagement=1', 'page_view=2'], await rows('event', [mine]));
  await page.click('[data-range="7d"]');
  seq = await loaded(page, seq);
  await page.click('[data-range="day"]');
  seq = await loaded(page, seq);
  const [allToday, engToday] = await Promise.all([query({ metrics: ['count'], date_range: 'day' }),
    query({ metrics: ['count'], date_range: 'day', filters: [['is', 'event', ['engagement']]] })]);
  check('the Events total leaves engagement out', allToday.results[0].metrics[0] - engToday.results[0].metrics[0], await tile(page, 'events'));
  check('the Events panel leaves engagement out', false, (await cellValues(page, 'events')).some((r) => r[0] === 'engagement'));
  // So does the live figure, once a refresh (every 5 s) has seen the
  // engagement event: the 3 tracker events, not 4.
  await page.waitForTimeout(6500);
  check('the live figure leaves engagement out', liveBefore + 3,
    Number(await page.$eval('#live-count', (e) => e.dataset.value)));
  await Promise.all([dctx.close(), pctx.close(), hctx.close()]);

  check('no console errors on the dashboard', [], errors.concat(spErrors));

  // ---- keys ---------------------------------------------------------------
  const kctx = await newContext({ viewport: { width: 800, height: 700 } });
  const kp = await kctx.newPage();
  const kErrors = watch(kp);
  const deniedView = async (url) => {
    await kp.goto(url);
    await kp.waitForSelector('#denied:not([hidden])', { timeout: WAIT_MS });
    return { error: await kp.textContent('#denied-error'), app: await kp.isVisible('#app'), tiles: await kp.locator('.tile').count() };
  };
  check('a wrong key shows an error, not data', { error: 'This key opens no site.', app: false, tiles: 0 },
    await deniedView(`${base}/dashboard/${site.merchant}?key=qk_00000000000000000000000000000000`));
  check('another site\'s key shows an error, not data', { error: `This key does not open site ${site.merchant}.`, app: false, tiles: 0 },
    await deniedView(`${base}/dashboard/${site.merchant}?key=${other.query_key}`));
  // No key: the sign-in form; the key is then kept in this browser.
  await deniedView(`${base}/dashboard/${site.merchant}`);
  await kp.fill('#key', site.query_key);
  await kp.click('#login button[type=submit]');
  await loaded(kp);
  check('signed in with the query key', true, await kp.isVisible('#total-events'));
  await kp.goto(`${base}/dashboard/${site.merchant}`);
  await loaded(kp);
  check('the key is kept in the browser', site.domain, await kp.textContent('#site-name'));
  // The admin key lists every site and opens them.
  await kp.goto(`${base}/`);
  await kp.fill('#key', adminKey);
  await kp.click('#login button[type=submit]');
  await kp.waitForFunction(() => document.querySelectorAll('#sites li').length >= 2, null, { timeout: WAIT_MS });
  check('the admin key lists every site', [site.domain, other.domain].sort(), (await kp.$$eval('#sites li a', (as) => as.map((a) => a.textContent))).sort());
  await kp.click(`#sites a[href="/dashboard/${other.merchant}"]`);
  await loaded(kp);
  check('the admin key opens another site', other.domain, await kp.textContent('#site-name'));
  check('console errors of the key pages are only the refused queries',
    [], kErrors.filter((e) => !/status of 40[13]/.test(e)));
  await kctx.close();
  await desk.close();
  check('no request left the server', [], outside.filter((u) => !u.startsWith(shop)));
} catch (e) {
  console.log(`FAIL: ${e.stack || e}`);
  fails++;
} finally {
  await browser.close();
}
process.exit(fails ? 1 : 0);
