// The browser half of tests/integration/t6020-report.sh. In Debian's
// headless Chromium:
//   1. opens the memoria técnica (file://), fails on any console error or
//      failed request, counts its SVG charts and their data marks (points
//      of the line charts, bars), prints "charts=N marks=M nodata=K" and
//      takes SHOTS/report-1-memoria.png (whole page);
//   2. opens the dashboard on the admin listener with HTTP Basic auth (the
//      token as the password), waits until it shows CUT as the cut served
//      and a state word, prints "state=... cut=...", takes
//      SHOTS/report-2-dashboard.png.
// Exits 1 with the reason on a timeout or an error. Talks only to
// 127.0.0.1.
//   node report.mjs HTML_FILE DASHBOARD_URL TOKEN CUT SHOTS_DIR
import { chromium } from 'playwright-core';

const [htmlFile, dashUrl, token, cut, shots] = process.argv.slice(2);
const waitMs = Number(process.env.BROWSER_WAIT_MS || 30000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let code = 0;
try {
  const errors = [];
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(`file://${htmlFile}`);
  const got = await page.evaluate(() => {
    const svgs = [...document.querySelectorAll('svg.chart')];
    return {
      charts: svgs.length,
      titled: svgs.filter((s) => s.querySelector('title')?.textContent.trim()).length,
      marks: document.querySelectorAll('svg.chart circle.pt, svg.chart rect.bar').length,
      nodata: document.querySelectorAll('svg.chart text.nodata').length,
      scripts: document.querySelectorAll('script').length,
      external: [...document.querySelectorAll('[src], link[href]')].length,
      h1: document.querySelector('h1')?.textContent || '',
      lang: document.documentElement.lang,
      ids: svgs.map((s) => s.id).join(','),
    };
  });
  if (errors.length) throw new Error(`the report: ${errors.join('; ')}`);
  if (got.scripts || got.external) throw new Error(`the report loads or runs something: ${JSON.stringify(got)}`);
  if (got.titled !== got.charts) throw new Error(`a chart without its title: ${JSON.stringify(got)}`);
  if (!got.h1.includes('Memoria técnica') || got.lang !== 'es') throw new Error(`not the memoria técnica: ${got.h1}`);
  console.log(`charts=${got.charts} marks=${got.marks} nodata=${got.nodata} ids=${got.ids}`);
  await page.screenshot({ path: `${shots}/report-1-memoria.png`, fullPage: true });

  const ctx = await browser.newContext({
    viewport: { width: 1200, height: 900 },
    httpCredentials: { username: 'operador', password: token },
  });
  const dash = await ctx.newPage();
  const derr = [];
  dash.on('console', (m) => { if (m.type() === 'error') derr.push(`console: ${m.text()}`); });
  dash.on('pageerror', (e) => derr.push(`page error: ${e.message}`));
  await dash.goto(dashUrl);
  const deadline = Date.now() + waitMs;
  let seen;
  for (;;) {
    seen = await dash.evaluate(() => ({
      state: document.querySelector('#estado-texto')?.textContent.trim(),
      cls: document.querySelector('#estado-texto')?.className,
      detail: document.querySelector('#estado-detalle')?.textContent || '',
      conn: document.querySelector('#conexion')?.textContent || '',
      rows: document.querySelectorAll('#cortes tr').length,
    }));
    if (seen.detail.includes(cut) && seen.conn.startsWith('actualizado')) break;
    if (Date.now() > deadline) throw new Error(`the dashboard never showed cut ${cut}: ${JSON.stringify(seen)}`);
    await dash.waitForTimeout(300);
  }
  if (derr.length) throw new Error(`the dashboard: ${derr.join('; ')}`);
  if (!['AL DÍA', 'ATRASADO', 'MUY ATRASADO'].includes(seen.state) || !seen.cls) {
    throw new Error(`no state word with its colour: ${JSON.stringify(seen)}`);
  }
  console.log(`state=${seen.state} cut=${cut} timeline_rows=${seen.rows}`);
  await dash.screenshot({ path: `${shots}/report-2-dashboard.png`, fullPage: true });
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
