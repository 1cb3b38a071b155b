// Browser test of composing in the staff web, run by
// web/e2e_compose_test.go:
//
//   node web/e2e/compose.mjs <baseURL> <screenshot dir>
//
// Like mail.mjs: playwright-core drives Debian's chromium; the Go test owns
// the server, the mailboxes and Bob's phone. The script prints
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

const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-compose-'));
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
  // Alice searches her mail for a word of a message's body.
  await signIn('alice@example.nhs.uk');
  await page.fill('#mail-q', 'methotrexate');
  await Promise.all([page.waitForNavigation(), page.press('#mail-q', 'Enter')]);
  expect(await page.isVisible('ul.msgs a:has-text("Pharmacy stock check")'), 'the search finds the message by a word of its body');
  expect((await page.locator('ul.msgs li.msg').count()) === 1, 'only that message matches');
  await step('searched');

  // She replies to Bob with a file, in the rich editor.
  await page.goto(`${base}/mail`);
  await Promise.all([page.waitForNavigation(), page.click('ul.msgs a:has-text("Bed state")')]);
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("Reply")')]);
  expect(await page.isVisible('h1:has-text("Reply")'), 'the reply form');
  const editor = page.locator('#body-editor');
  await editor.waitFor();
  expect(await page.isHidden('#body-text'), 'the editor replaces the plain field');
  expect((await page.inputValue('#subject')) === 'RE: Bed state', 'the subject answers the original');
  expect((await page.inputValue('#to')).includes('bob@example.nhs.uk'), 'the reply goes to Bob');
  expect((await editor.textContent()).includes('How many beds do we have tonight?'), 'the original is quoted');
  await editor.click();
  await page.keyboard.press('Control+Home');
  await page.keyboard.type('We have four beds. ');
  await page.click('.editor-bar button:has-text("Bold")');
  await page.keyboard.type('Ward 7 only.');
  await page.setInputFiles('#attach', { name: 'beds.csv', mimeType: 'text/csv', buffer: Buffer.from('ward,beds\n7,4\n') });
  await axeCheck(page, 'compose');
  await shots(page, 'mail-compose');
  await Promise.all([page.waitForNavigation(), page.click('button[value="send"]')]);
  expect(await page.isVisible('.flash:has-text("Message sent.")'), 'the sender is told it went');
  await step('replied');

  // Carol, who may send on Alice's behalf, writes to Bob as Alice, picking
  // him from the suggestions.
  await signIn('carol@example.nhs.uk');
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("New message")')]);
  const from = page.locator('#from');
  expect((await from.count()) === 1, 'a delegate with send on behalf gets a From choice');
  await from.selectOption('alice@example.nhs.uk');
  await page.click('#to');
  await page.keyboard.type('Bob');
  await page.waitForSelector('#to-suggest li');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  expect((await page.inputValue('#to')).includes('bob@example.nhs.uk'), `the suggestion fills the field (${await page.inputValue('#to')})`);
  await page.fill('#subject', 'Clinic list for Friday');
  await page.click('#body-editor');
  await page.keyboard.type('The clinic list is on the shared drive.');
  await Promise.all([page.waitForNavigation(), page.click('button[value="send"]')]);
  expect(await page.isVisible('.flash:has-text("Message sent.")'), 'sent on behalf');
  await step('on-behalf');

  // Bob may only read Alice's mail: no From choice, and a forged post is
  // refused.
  await signIn('bob@example.nhs.uk');
  await page.goto(`${base}/mail/compose`);
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
  expect(status === 403, `the forged send on behalf is refused with 403, not ${status}`);
  await step('read-only-refused');
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await page.screenshot({ path: join(outDir, 'compose-failure.png'), fullPage: true }); } catch {}
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
