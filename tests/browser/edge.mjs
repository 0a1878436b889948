// The browser half of tests/integration/t7010-edge.sh: Debian's headless
// Chromium loads the edge's page in a loop, as a visitor who keeps the tab
// open and comes back, until STOP_FILE exists or DEADLINE_S pass. One
// browser context for the whole run, so its HTTP cache is a visitor's.
// Each load:
//   - goes to EDGE_URL and waits (up to 8 s) for the app to render: body
//     [data-rendered] (main.<h>.js fetched the JSON and chunk-<h>.js
//     rendered #corte), or body[data-failed];
//   - after 3 to 6 s with the page open, runs window.edgeLazy(), which
//     imports lazy-<h>.js as an Angular route change does, and waits for
//     #lazy[data-cut];
//   - is blank when the content is missing, a script threw, or any
//     response was not 200/304 or failed (a request Chromium cancelled
//     itself excepted: see below).
// Writes one JSON line per load to OUT_FILE: {t, t_end, ok, why, cut,
// bundle, responses, bad_status}, then creates OUT_FILE.done. Talks only to
// 127.0.0.1.
//   node edge.mjs EDGE_URL OUT_FILE STOP_FILE DEADLINE_S
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [edgeUrl, outFile, stopFile, deadlineS] = process.argv.slice(2);
const deadline = Date.now() + Number(deadlineS) * 1000;
writeFileSync(outFile, '');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let code = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  const page = await context.newPage();
  let errors = [], bad = [], count = 0;
  page.on('pageerror', (e) => errors.push(`script error: ${e.message}`));
  // A request the browser cancelled itself (net::ERR_ABORTED: a
  // navigation away, or the background revalidation of a cached response
  // within its stale-while-revalidate time) is no failure of the site; a
  // cancelled request the page needed leaves it unrendered, which counts.
  page.on('requestfailed', (r) => {
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    count++;
    if (r.status() !== 200 && r.status() !== 304) bad.push(`${new URL(r.url()).pathname} ${r.status()}`);
  });
  while (!existsSync(stopFile) && Date.now() < deadline) {
    errors = []; bad = []; count = 0;
    const t = Date.now() / 1000;
    let ok = true, why = '', cut = null, bundle = null;
    try {
      await page.goto(edgeUrl, { waitUntil: 'load', timeout: 8000 });
      await page.waitForFunction(() => document.body.dataset.rendered || document.body.dataset.failed,
        null, { timeout: 8000 });
      const st = await page.evaluate(() => ({
        failed: document.body.dataset.failed || null,
        cut: document.querySelector('#corte')?.dataset.cut || null,
        bundle: document.querySelector('#corte')?.dataset.bundle || null,
        text: document.querySelector('#corte')?.textContent || '',
      }));
      cut = st.cut; bundle = st.bundle;
      if (st.failed) throw new Error(`the app failed: ${st.failed}`);
      if (!st.cut || !st.text.includes('votos')) throw new Error('no rendered results');
      await page.waitForTimeout(3000 + Math.random() * 3000);
      await page.evaluate(() => window.edgeLazy());
      await page.waitForFunction(() => document.querySelector('#lazy')?.dataset.cut, null, { timeout: 5000 });
    } catch (e) {
      ok = false;
      why = e.message.split('\n')[0];
    }
    if (errors.length || bad.length) {
      ok = false;
      why = why || errors[0] || `HTTP ${bad[0]}`;
    }
    appendFileSync(outFile, JSON.stringify({ t, t_end: Date.now() / 1000, ok, why, cut, bundle,
      responses: count, bad_status: bad.length ? bad : undefined }) + '\n');
  }
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  code = 1;
} finally {
  await browser.close();
  writeFileSync(`${outFile}.done`, '');
}
process.exit(code);
