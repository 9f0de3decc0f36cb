// visit.mjs - a little live traffic for scripts/demo.sh: visitors on a
// desktop and a phone open pages of the merchant's site carrying Plausible's
// tracker in Debian's chromium, and one buys; the tracker sends to the
// server.
//   node visit.mjs BASE_URL SITE_JSON
// Prints one line of what was sent; exit status 77 where chromium cannot
// start, 1 when the server did not accept an event.
import { readFileSync } from 'node:fs';
import { devices, launchChromium, shopContext, trackerAnswer, desktopUserAgent } from './shop.mjs';

const [base, siteFile] = process.argv.slice(2);
const site = JSON.parse(readFileSync(siteFile, 'utf8'));
const { browser, why } = await launchChromium();
if (!browser) {
  console.error(why);
  process.exit(77);
}
const outside = [];
const shop = `https://${site.domain}`;
const visits = [
  [{ userAgent: await desktopUserAgent(browser), viewport: { width: 1280, height: 800 } },
    ['/', 'https://news.example/story'], ['/pricing', null], ['/checkout', null, 'buy']],
  [{ ...devices['Pixel 7'] }, ['/', 'https://www.google.com/'], ['/blog/launch', null]],
  [{ ...devices['iPhone 13'] }, ['/pricing', 'https://t.co/x']],
];
let sent = 0, bad = 0;
try {
  for (const [options, ...pages] of visits) {
    const ctx = await shopContext(browser, base, site.domain, outside, options);
    const page = await ctx.newPage();
    for (const [path, referer, buy] of pages) {
      let answer = trackerAnswer(page, base);
      await page.goto(shop + path, referer ? { referer } : {});
      if ((await answer).status() === 202) sent++; else bad++;
      if (buy) {
        answer = trackerAnswer(page, base);
        await page.click('#buy');
        if ((await answer).status() === 202) sent++; else bad++;
      }
    }
    await ctx.close();
  }
} finally {
  await browser.close();
}
console.log(`${sent} events from Plausible's tracker in chromium (3 visitors: a desktop, two phones)`);
process.exit(bad ? 1 : 0);
