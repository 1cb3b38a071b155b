// Browser test of the staff web's mail, run by web/e2e_mail_test.go:
//
//   node web/e2e/mail.mjs <baseURL> <screenshot dir>
//
// Like run.mjs: playwright-core drives Debian's chromium; the Go test owns
// the server, the mailbox and a remote server counting requests. The script
// prints "STEP <name>" and waits for "go" on stdin. axe-core checks the
// pages; it is evaluated through the DevTools protocol, which the pages'
// strict CSP does not govern, so no policy is relaxed for the test.
//
// Environment: AIRLOCK_USER, AIRLOCK_PASSWORD, CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
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
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const lines = createInterface({ input: process.stdin });
const waiting = [];
const queued = [];
lines.on('line', (l) => (waiting.length ? waiting.shift()(l) : queued.push(l)));
lines.on('close', () => { while (waiting.length) waiting.shift()(null); });
const nextLine = () => (queued.length ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r)));
async function step(name) {
  console.log(`STEP ${name}`);
  const l = await nextLine();
  if (l !== 'go') throw new Error(`test did not continue after ${name} (got ${l})`);
}
function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

// axe runs on our page; the message's own frame is the sender's markup and
// is left out (it is sandboxed and cannot host axe anyway).
async function axeCheck(p, name) {
  await p.evaluate(axeSource);
  const res = await p.evaluate(() => window.axe.run(document, { iframes: false, resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of res.violations) console.log(`axe ${name}: ${v.impact} ${v.id} (${v.nodes.length})`);
  expect(bad.length === 0, `no serious or critical axe violations on ${name}: ` +
    bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('; '));
}

async function shots(p, name) {
  await p.evaluate(() => document.activeElement && document.activeElement.blur());
  await p.setViewportSize({ width: 1366, height: 768 });
  await p.screenshot({ path: join(outDir, `${name}.png`) });
  await p.setViewportSize({ width: 390, height: 844 });
  await p.screenshot({ path: join(outDir, `${name}-phone.png`) });
  await axeCheck(p, `${name} (phone)`);
  await p.setViewportSize({ width: 1366, height: 768 });
}

const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-mail-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1366, height: 768 },
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
let dialogs = 0;
page.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
const popups = [];
ctx.on('page', (p) => popups.push(p));

let failed = false;
try {
  // Sign in: staff land on their Inbox.
  await page.goto(`${base}/login`);
  await page.fill('#login', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);
  expect(/^\/mail\/\d+$/.test(new URL(page.url()).pathname), `staff land on their Inbox, not ${page.url()}`);
  expect(await page.isVisible('h1:has-text("Inbox")'), 'the Inbox heading');
  const rows = page.locator('ul.msgs li.msg');
  expect((await rows.count()) === 8, `8 messages listed, not ${await rows.count()}`);
  expect(await page.isVisible('.folders a[aria-current="page"]:has-text("Inbox")'), 'the tree marks the Inbox');
  expect((await page.textContent('.folders a[aria-current="page"] .count')).startsWith('5'), 'the tree counts 5 unread');
  // Keyboard: the folder tree comes before the list, each a link.
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement.textContent.trim()) === 'Airlock', 'focus starts at the brand link');
  await axeCheck(page, 'inbox');
  await shots(page, 'mail-inbox');
  await step('inbox');

  // The imported plain-text message: escaped text, a clickable link.
  await Promise.all([page.waitForNavigation(), page.click('ul.msgs a:has-text("Ward rota for March")')]);
  expect(await page.isVisible('h1:has-text("Ward rota for March")'), 'the rota opens');
  expect((await page.textContent('pre.body-text')).includes('<b>nights</b>'), 'markup in plain text is shown as text');
  const link = page.locator('pre.body-text a');
  expect((await link.getAttribute('href')) === 'https://intranet.example.nhs.uk/rota/march', 'the address is a link');
  expect((await link.getAttribute('rel')) === 'noopener noreferrer', 'links open with noopener');
  await step('read-imported');

  // The hostile message: nothing runs, nothing is fetched.
  await page.goto(`${base}/mail`);
  await Promise.all([page.waitForNavigation(), page.click('ul.msgs a:has-text("Quarterly figures")')]);
  const frameEl = page.locator('iframe.body-frame');
  await frameEl.waitFor();
  expect((await frameEl.getAttribute('sandbox')) === 'allow-popups allow-popups-to-escape-sandbox', 'the pane is sandboxed without scripts');
  const frame = await (await frameEl.elementHandle()).contentFrame();
  await frame.waitForSelector('#greeting');
  expect(await frame.isVisible('text=The figures for the quarter are below.'), 'the body shows');
  expect((await frame.locator('#remote').getAttribute('src')) === null, 'the remote picture has no source');
  await page.waitForTimeout(500);
  expect(dialogs === 0, `no dialogs (${dialogs})`);
  expect((await page.title()) !== 'pwned', 'the page title is untouched');
  expect(await page.isVisible('text=1 picture from the internet was blocked'), 'the reader is told a picture was blocked');
  await step('hostile-open');

  // Show images: the picture loads, once; still no script.
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("Show images")')]);
  const frame2 = await (await page.locator('iframe.body-frame').elementHandle()).contentFrame();
  await frame2.waitForSelector('#remote');
  await frame2.waitForFunction(() => { const i = document.getElementById('remote'); return i && i.complete && i.naturalWidth > 0; });
  expect(dialogs === 0, `no dialogs after showing images (${dialogs})`);
  const a = frame2.locator('a:has-text("the NHS website")');
  expect((await a.getAttribute('target')) === '_blank' && (await a.getAttribute('rel')) === 'noopener noreferrer', 'message links open apart with noopener');
  await step('images-shown');

  await page.goto(page.url().replace(/\?images=1$/, ''));
  await page.locator('iframe.body-frame').waitFor();
  await axeCheck(page, 'reading pane');
  await shots(page, 'mail-reading');
  expect(dialogs === 0, 'no dialogs at all');
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await page.screenshot({ path: join(outDir, 'mail-failure.png'), fullPage: true }); } catch {}
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
