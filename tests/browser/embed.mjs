// The browser half of tests/integration/t8000-browser.sh. In Debian's
// headless Chromium it opens a page of a second loopback origin that
// embeds prepd's site in an iframe (R10), and on that one page, without
// reloading it:
//   1. waits for the placeholder in the frame (its <base href="/">, "20:00")
//      and takes SHOTS/t8000-1-placeholder.png;
//   2. runs $DROP_FIRST (the shell publishes the first cut), waits for
//      results in the frame (#corte with a time, .partido rows with votes;
//      the placeholder reloads itself), takes t8000-2-results.png;
//   3. marks the frame's window, runs $DROP_NEXT (the next cut), waits for
//      #corte to change while the mark survives (the app updated itself,
//      nobody reloaded it), takes t8000-3-next-cut.png.
// Prints "placeholder=ok", "corte1=...", "corte2=...". Exits 1 with the
// reason on a timeout. Talks only to 127.0.0.1.
//   node embed.mjs EMBED_URL PREPD_ORIGIN SHOTS_DIR
import { execSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const [embedUrl, prepdOrigin, shots] = process.argv.slice(2);
const waitMs = Number(process.env.BROWSER_WAIT_MS || 100000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let code = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(embedUrl);
  const frameOf = () => page.frames().find((f) => f.url().startsWith(prepdOrigin));
  const until = async (what, test, arg) => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const f = frameOf();
      const got = f ? await f.evaluate(test, arg).catch(() => null) : null;
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`timed out after ${waitMs} ms waiting for ${what}`);
      await page.waitForTimeout(500);
    }
  };
  const results = (avoid) => {
    const c = document.querySelector('#corte');
    const rows = document.querySelectorAll('.partido[data-votos]');
    if (!c || rows.length < 2 || !c.textContent.trim()) return null;
    if (avoid && c.textContent.trim() === avoid) return null;
    return c.textContent.trim();
  };

  await until('the placeholder in the frame', () =>
    document.querySelector('base')?.getAttribute('href') === '/' &&
    document.body.innerText.includes('20:00'));
  console.log('placeholder=ok');
  await page.screenshot({ path: `${shots}/t8000-1-placeholder.png`, fullPage: true });

  execSync(process.env.DROP_FIRST, { stdio: 'inherit' });
  const corte1 = await until('results in the frame', results, '');
  console.log(`corte1=${corte1}`);
  await page.screenshot({ path: `${shots}/t8000-2-results.png`, fullPage: true });

  await frameOf().evaluate(() => { window.__prepdTestMark = 'same-document'; });
  execSync(process.env.DROP_NEXT, { stdio: 'inherit' });
  const corte2 = await until('a newer cut in the frame', results, corte1);
  const mark = await frameOf().evaluate(() => window.__prepdTestMark);
  if (mark !== 'same-document') throw new Error('the frame was reloaded to show the new cut');
  console.log(`corte2=${corte2}`);
  console.log('reload=none');
  await page.screenshot({ path: `${shots}/t8000-3-next-cut.png`, fullPage: true });
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
