// Browser test of shared mailboxes, contacts and tasks in the staff web, run by
// web/e2e_shared_test.go:
//
//   node web/e2e/shared.mjs <baseURL> <screenshot dir>
//
// Like mail.mjs: playwright-core drives Debian's chromium; the Go test owns
// the server, the mailboxes and Alice's phone. The script prints
// "STEP <name>" and waits for "go" on stdin. axe-core is evaluated through
// the DevTools protocol, so the pages' strict CSP is not relaxed.
//
// Environment: AIRLOCK_PASSWORD, CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [base, outDir] = process.argv.slice(2);
const password = process.env.AIRLOCK_PASSWORD;
if (!password) throw new Error('AIRLOCK_PASSWORD is not set');
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
async function axeCheck(p, name) {
  await p.evaluate(axeSource);
  const res = await p.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
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

const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-shared-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1366, height: 768 },
});
const page = ctx.pages()[0] ?? (await ctx.newPage());

async function signIn(login) {
  await ctx.clearCookies();
  await page.goto(`${base}/login`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);
  expect(/^\/mail\/\d+$/.test(new URL(page.url()).pathname), `${login} lands on the Inbox, not ${page.url()}`);
}

let failed = false;
try {
  // Bob, who may read Alice's mail, opens her Inbox from his folder tree
  // and reads a message; nothing in it lets him change it.
  await signIn('bob@example.nhs.uk');
  expect(await page.isVisible('.folders h2:has-text("Mailboxes shared with me")'), 'the tree lists the shared mailboxes');
  await Promise.all([page.waitForNavigation(), page.click('.folders a:has-text("Alice Jones")')]);
  expect(await page.isVisible('h1:has-text("Alice Jones: Inbox")'), `Alice's Inbox opens (${page.url()})`);
  await Promise.all([page.waitForNavigation(), page.click('ul.msgs a:has-text("Ward round notes")')]);
  expect(await page.isVisible('pre.body-text:has-text("Bay 3 needs a review")'), 'the message reads');
  for (const b of ['Delete', 'Flag', 'Move', 'Junk', 'Mark as unread', 'Reply']) {
    expect((await page.locator(`article.reading button:has-text("${b}"), article.reading a:has-text("${b}")`).count()) === 0, `no ${b} on a read-only pane`);
  }
  expect(await page.isVisible('text=you cannot change it or send as Alice Jones'), 'the pane says what Bob may do');
  await axeCheck(page, 'shared reading pane');
  // Nor can he send as Alice: no From choice, and a forged post is refused.
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("New message")')]);
  expect((await page.locator('#from').count()) === 0, 'a read-only delegate gets no From choice');
  const status = await page.evaluate(async () => {
    const fd = new FormData(document.getElementById('compose-form'));
    fd.set('op', 'send');
    fd.set('from', 'alice@example.nhs.uk');
    fd.set('to', 'carol@example.nhs.uk');
    fd.set('subject', 'Forged');
    const r = await fetch('/mail/compose', { method: 'POST', body: fd, credentials: 'same-origin', redirect: 'manual' });
    return r.status;
  });
  expect(status === 403, `the forged send as Alice is refused with 403, not ${status}`);
  await step('read-only');

  // Carol, who may send on Alice's behalf, does.
  await signIn('carol@example.nhs.uk');
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("New message")')]);
  await page.selectOption('#from', 'alice@example.nhs.uk');
  await page.fill('#to', 'bob@example.nhs.uk');
  await page.fill('#subject', 'Theatre list for Monday');
  await page.click('#body-editor');
  await page.keyboard.type('The list is final.');
  await Promise.all([page.waitForNavigation(), page.click('button[value="send"]')]);
  expect(await page.isVisible('.flash:has-text("Message sent.")'), 'sent on behalf');
  await step('on-behalf');

  // Bob sees who sent it for whom.
  await signIn('bob@example.nhs.uk');
  await Promise.all([page.waitForNavigation(), page.click('ul.msgs a:has-text("Theatre list for Monday")')]);
  const from = await page.textContent('dl.headers dd');
  expect(/Carol Evans <carol@example\.nhs\.uk> on behalf of .*alice@example\.nhs\.uk/.test(from.replace(/\s+/g, ' ')), `the recipient sees "on behalf of" (${from})`);
  await step('recipient');

  // Alice adds a contact and a weekly task, and ticks the task done.
  await signIn('alice@example.nhs.uk');
  await Promise.all([page.waitForNavigation(), page.click('nav[aria-label="Main"] a:has-text("Contacts")')]);
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("New contact")')]);
  await page.fill('#first', 'Priya');
  await page.fill('#last', 'Shah');
  await page.fill('#company', 'Leeds Pharmacy');
  await page.fill('#email1', 'priya.shah@pharmacy.example.org');
  await page.fill('#mobile', '07700 900123');
  await axeCheck(page, 'contact form');
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Save contact")')]);
  expect(await page.isVisible('h1:has-text("Priya Shah")'), 'the new contact shows');
  expect((await page.getAttribute('a:has-text("Send a mail")', 'href')).startsWith('/mail/compose?to='), 'a mail starts from the card');
  await axeCheck(page, 'contact card');
  await shots(page, 'contact-card');
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("Back to contacts")')]);
  await page.fill('#q', 'pharmacy');
  await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
  expect(await page.isVisible('ul.plist a:has-text("Priya Shah")'), 'the search finds her by company');
  await axeCheck(page, 'contacts');
  await shots(page, 'contacts');

  await Promise.all([page.waitForNavigation(), page.click('nav[aria-label="Main"] a:has-text("Tasks")')]);
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("New task")')]);
  await page.fill('#subject', 'Controlled drugs check');
  await page.fill('#due', '2026-03-02');
  await page.selectOption('#importance', '2');
  await page.selectOption('#freq', 'weekly');
  await axeCheck(page, 'task form');
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Save task")')]);
  expect(await page.isVisible('td:has-text("Mon 2 Mar 2026")'), 'the task is due on the 2nd');
  await axeCheck(page, 'tasks');
  await shots(page, 'tasks');
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Mark done")')]);
  expect(await page.isVisible('td:has-text("Mon 9 Mar 2026")'), 'the weekly task moved on a week');
  await step('pim');
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await page.screenshot({ path: join(outDir, 'shared-failure.png'), fullPage: true }); } catch {}
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
