// Browser test of the staff mail's live updates, run by
// web/e2e_live_test.go:
//
//   node web/e2e/live.mjs <baseURL> <screenshot dir>
//
// The Inbox stays open; the Go test delivers mail over SMTP (to this node
// or another one) and tells the subject on stdin ("go <subject>"); the
// script waits for the message to appear in the list without a reload and
// prints "STEP seen-<n>" at once, so the Go test times the whole path.
//
// Environment: AIRLOCK_USER, AIRLOCK_PASSWORD, CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [base, outDir] = process.argv.slice(2);
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const user = env('AIRLOCK_USER');
const password = env('AIRLOCK_PASSWORD');

const lines = createInterface({ input: process.stdin });
const waiting = [];
const queued = [];
lines.on('line', (l) => (waiting.length ? waiting.shift()(l) : queued.push(l)));
lines.on('close', () => { while (waiting.length) waiting.shift()(null); });
const nextLine = () => (queued.length ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r)));
function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-live-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1366, height: 768 },
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
let navigations = 0;
page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });

let failed = false;
try {
  await page.goto(`${base}/login`);
  await page.fill('#login', user);
  await page.fill('#password', password);
  const stream = page.waitForResponse((r) => new URL(r.url()).pathname === '/mail/events');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);
  expect(/^\/mail\/\d+$/.test(new URL(page.url()).pathname), `the Inbox opens, not ${page.url()}`);
  const res = await stream;
  expect(res.status() === 200 && res.headers()['content-type'] === 'text/event-stream', 'the event stream is open');
  const inboxURL = page.url();
  const before = navigations;
  const inboxCount = () => page.evaluate(() => {
    const c = document.querySelector('.folders a[aria-current="page"] .count');
    return c ? parseInt(c.textContent, 10) : 0;
  });

  for (let i = 0; i < 2; i++) {
    if (i === 1) {
      // Focus on the first message, by keyboard: it stays there.
      await page.focus('ul.msgs li.msg a');
    }
    const focused = await page.evaluate(() => document.activeElement.getAttribute('href'));
    console.log(`STEP waiting-${i}`);
    const l = await nextLine();
    expect(l && l.startsWith('go '), `a subject from the test (got ${l})`);
    const subject = l.slice(3);
    await page.locator('ul.msgs li.msg', { hasText: subject }).waitFor({ timeout: 5000 });
    console.log(`STEP seen-${i}`);
    expect(page.url() === inboxURL && navigations === before, 'no reload and no navigation');
    expect((await page.locator('ul.msgs li.msg').count()) === i + 1, `${i + 1} messages listed`);
    expect((await page.locator('ul.msgs li.msg.unread').first().textContent()).includes(subject), 'the new message is first and unread');
    await page.waitForFunction((n) => {
      const c = document.querySelector('.folders a[aria-current="page"] .count');
      return c && parseInt(c.textContent, 10) === n;
    }, i + 1, { timeout: 2000 });
    expect((await inboxCount()) === i + 1, `the tree counts ${i + 1} unread`);
    const news = await page.textContent('#live-news');
    expect(news.includes('New mail') && news.includes('Inbox'), `the news is announced (${news})`);
    expect((await page.getAttribute('#live-news', 'aria-live')) === 'polite', 'politely');
    if (i === 1) {
      const now = await page.evaluate(() => document.activeElement.getAttribute('href'));
      expect(now === focused, `focus stays on the same message (${focused}, now ${now})`);
    }
  }
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await page.screenshot({ path: join(outDir, 'live-failure.png'), fullPage: true }); } catch {}
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
