// Browser test of the staff web's diary and directory, run by
// web/e2e_diary_test.go:
//
//   node web/e2e/diary.mjs <baseURL> <screenshot dir>
//
// Like mail.mjs: playwright-core drives Debian's chromium; the Go test owns
// the server and Bob's phone. The script prints "STEP <name>" and waits for
// "go" on stdin.
//
// Environment: AIRLOCK_USER, AIRLOCK_PASSWORD, CHROMIUM, MEETING_DATE
// (YYYY-MM-DD, a Monday).
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
const date = env('MEETING_DATE');
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

const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-diary-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1366, height: 768 },
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
let failed = false;
try {
  await page.goto(`${base}/login`);
  await page.fill('#login', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);

  // The directory: two letters find nobody; a department finds Bob.
  await page.click('nav a:has-text("Directory")');
  await page.waitForSelector('h1:has-text("Directory")');
  await page.fill('#q', 'ra');
  await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
  expect(await page.isVisible('text=Type at least 3 letters'), 'two letters are refused');
  await page.fill('#q', 'radio');
  await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
  expect(await page.isVisible('ul.plist a:has-text("Bob Smith")'), 'Bob is found by his department');
  expect(!(await page.isVisible('ul.plist a:has-text("Alice Jones")')), 'Alice is not');
  await axeCheck(page, 'directory');
  await Promise.all([page.waitForNavigation(), page.click('ul.plist a:has-text("Bob Smith")')]);
  expect(await page.isVisible('h1:has-text("Bob Smith")'), "Bob's card");
  expect(await page.isVisible('text=Consultant Radiologist'), 'his job title');
  expect(await page.isVisible('dd:has-text("Radiology")'), 'his department');
  expect(await page.isVisible('a[href="tel:02079460002"]'), 'his phone, callable');
  expect((await page.getAttribute('a:has-text("Send a mail")', 'href')) === '/mail/compose?to=bob%40example.nhs.uk', 'a mail link');
  await axeCheck(page, 'directory card');
  await shots(page, 'directory-card');

  // A weekly meeting with Bob, from his card.
  await Promise.all([page.waitForNavigation(), page.click('a:has-text("Arrange a meeting")')]);
  expect((await page.inputValue('#attendees')) === 'bob@example.nhs.uk', 'Bob is the attendee');
  await page.fill('#summary', 'Weekly imaging review');
  await page.fill('#location', 'Radiology seminar room');
  await page.fill('#start', `${date}T10:00`);
  await page.fill('#end', `${date}T11:00`);
  await page.selectOption('#freq', 'weekly');
  await page.check('input[name=days][value=MO]');
  await page.check('input[name=ends][value=count]');
  await page.fill('input[name=count]', '6');
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Check who is free")')]);
  expect(await page.isVisible('h2:has-text("Who is free on")'), 'the scheduling view');
  expect((await page.locator('table.fb tbody tr').count()) === 2, 'Alice and Bob in the scheduling view');
  expect((await page.inputValue('#summary')) === 'Weekly imaging review', 'the form kept its values');
  await Promise.all([page.waitForNavigation(), page.click('form.event-form button[type=submit]:not([formaction])')]);
  expect(await page.isVisible('.flash:has-text("invitations are sent")'), 'the invitations went');
  expect(await page.isVisible('.entry:has-text("Weekly imaging review")'), 'the meeting is in the week');
  await step('meeting-made');

  // Bob accepted on his phone: the week shows it, and the meeting.
  await page.goto(`${base}/diary?view=week&date=${date}`);
  const entry = page.locator('.entry:has-text("Weekly imaging review")');
  expect((await entry.textContent()).includes('1 accepted'), 'the week view shows the acceptance');
  // Keyboard: n steps to the next week, where the series goes on.
  await Promise.all([page.waitForNavigation(), page.keyboard.press('n')]);
  expect(await page.isVisible('.entry:has-text("Weekly imaging review")'), 'the next week has the meeting too');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('p')]);
  expect(await page.isVisible('.entry:has-text("Outpatient clinic")'), 'p steps back to the first week');
  await axeCheck(page, 'diary week');
  await shots(page, 'diary-week');
  await Promise.all([page.waitForNavigation(), page.click('.entry a:has-text("Weekly imaging review")')]);
  expect(await page.isVisible('table.attendees td:has-text("Accepted")'), 'the meeting shows Bob accepted');
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await page.screenshot({ path: join(outDir, 'diary-failure.png'), fullPage: true }); } catch {}
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
