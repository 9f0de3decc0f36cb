// shop.mjs - what browser.mjs and visit.mjs share: Debian's chromium
// started by playwright-core, and merchants' pages carrying Plausible's
// tracker (@plausible-analytics/tracker as npm ships it), answered by the
// caller itself at https://DOMAIN/ while the tracker sends to a real
// tsagg-server. Nothing else leaves the machine: every other request is
// refused and remembered.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
export const { devices } = require('playwright-core');
export const WAIT_MS = 15000;

// The browser, or null and why it cannot start here.
export async function launchChromium() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  try {
    return { browser: await chromium.launch({
      executablePath, timeout: WAIT_MS,
      // Root has no user-namespace sandbox (CI runs as root).
      args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
        // Trackers look at navigator.webdriver and stay silent when it is set.
        '--disable-blink-features=AutomationControlled',
        // The merchants' pages claim public origins (https://shop.example)
        // while the server is on 127.0.0.1: Chromium would ask the visitor
        // before a public page reaches the loopback address, which a real
        // deployment (a public server) never meets.
        '--disable-features=LocalNetworkAccessChecks'],
    }) };
  } catch (e) {
    return { why: `chromium cannot start (${executablePath}): ${String(e.message).split('\n')[0]}` };
  }
}

// A context whose pages may reach base (the server) only.
export async function guardedContext(browser, base, outside, options = {}) {
  const origin = new URL(base).origin;
  const ctx = await browser.newContext(options);
  ctx.setDefaultTimeout(WAIT_MS);
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + '/') || url.startsWith('data:')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  return ctx;
}

const trackerJs = readFileSync(require.resolve('@plausible-analytics/tracker'), 'utf8');

function shopPage(domain, base, title) {
  return `<!doctype html><html><head><title>${title}</title>
<script type="module">
import { init, track } from '/_tracker/plausible.js';
init({ domain: ${JSON.stringify(domain)}, endpoint: ${JSON.stringify(base + '/api/event')}, captureOnLocalhost: true, logging: false });
document.getElementById('buy').addEventListener('click', () =>
  track('Purchase', { props: { plan: 'pro' }, revenue: { currency: 'EUR', amount: 49.9 } }));
</script></head><body><h1>${title}</h1><button id="buy">Buy</button></body></html>`;
}

// A context in which https://DOMAIN/PATH is a page of the merchant's,
// with the tracker sending to base.
export async function shopContext(browser, base, domain, outside, options = {}) {
  const ctx = await guardedContext(browser, base, outside, options);
  await ctx.route(`https://${domain}/**`, (route) => {
    const u = new URL(route.request().url());
    if (u.pathname === '/_tracker/plausible.js')
      return route.fulfill({ contentType: 'text/javascript', body: trackerJs });
    return route.fulfill({ contentType: 'text/html', body: shopPage(domain, base, u.pathname) });
  });
  return ctx;
}

// The next answer of the server to the tracker.
export function trackerAnswer(page, base) {
  return page.waitForResponse((r) => r.url() === `${base}/api/event`, { timeout: WAIT_MS });
}

// The browser's own User-Agent less the "Headless" that marks it as a
// robot: what a person's Chromium on this machine sends.
export async function desktopUserAgent(browser) {
  const probe = await browser.newPage();
  const ua = await probe.evaluate(() => navigator.userAgent);
  await probe.close();
  return ua.replace('HeadlessChrome', 'Chrome');
}
