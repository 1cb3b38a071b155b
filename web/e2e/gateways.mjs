// Browser test of texts and faxes from the staff web, run by
// web/e2e_gateways_test.go:
//
//   node web/e2e/gateways.mjs <baseURL> <screenshot dir>
//
// playwright-core drives Debian's chromium against the real server, whose
// SMS and fax providers are the Go test's fakes on loopback. Alice sends a
// text and a fax (a PDF) as a person would, by label, and reloads until
// each shows "sent"; a Word file is refused next to the file field. axe-core
// runs (through the DevTools protocol, so the strict CSP stays) on both
// pages, with and without errors; screenshots at 1366x768 and 390x844.
//
// Environment: AIRLOCK_PASSWORD, CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, outDir] = process.argv.slice(2);
const password = process.env.AIRLOCK_PASSWORD;
if (!password) throw new Error('AIRLOCK_PASSWORD is not set');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

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
// untilStatus reloads the page until the newest row shows want.
async function untilStatus(p, want) {
  for (let i = 0; i < 50; i++) {
    const s = await p.locator('.gateway-recent tbody tr').first().locator('.badge').textContent().catch(() => '');
    if (s === want) return;
    await p.waitForTimeout(100);
    await p.reload();
  }
  throw new Error(`the newest row never showed ${want}`);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-gateways-'));
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
  await page.fill('#login', 'alice@example.nhs.uk');
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type=submit]')]);

  // A text, from the link in the mail side bar.
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Send a text' }).click()]);
  await page.getByLabel('Mobile number').fill('020 7946 0018');
  await page.getByLabel('Text', { exact: true }).fill('Your clinic moved to room 4.');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send text' }).click()]);
  expect((await page.locator('#sms-to-error').textContent()).includes('not a UK mobile'), 'a landline is refused next to the field');
  await axeCheck(page, 'sms compose with an error');
  await page.getByLabel('Mobile number').fill('07700 900123');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send text' }).click()]);
  expect((await page.locator('.flash').textContent()).includes('queued'), 'the page says the text is queued');
  await untilStatus(page, 'sent');
  expect((await page.locator('.gateway-recent tbody tr').first().textContent()).includes('+447700900123'), 'the text is listed with its number');
  await axeCheck(page, 'sms compose');
  await shots(page, 'sms-compose');
  console.log('PASS sms');

  // A fax: first a Word file, refused; then a PDF.
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Send a fax' }).click()]);
  await page.getByLabel('Fax number').fill('020 7946 0018');
  await page.getByLabel('Subject').fill('Discharge letter');
  await page.getByLabel('Cover note').fill('Please find the discharge letter attached.');
  await page.getByLabel('PDF or TIFF files').setInputFiles({ name: 'letter.docx', mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', buffer: Buffer.from('PK\x03\x04') });
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send fax' }).click()]);
  expect((await page.locator('#fax-attach-error').textContent()).includes('Only PDF and TIFF files can be faxed'), 'a Word file is refused with the reason');
  await axeCheck(page, 'fax compose with an error');
  await page.getByLabel('PDF or TIFF files').setInputFiles({ name: 'letter.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n') });
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send fax' }).click()]);
  expect((await page.locator('.flash').textContent()).includes('queued'), 'the page says the fax is queued');
  await untilStatus(page, 'sent');
  await axeCheck(page, 'fax compose');
  await shots(page, 'fax-compose');
  console.log('PASS fax');
} catch (e) {
  failed = true;
  console.log(`FAIL ${e.message}`);
  await page.screenshot({ path: join(outDir, 'gateways-failure.png') }).catch(() => {});
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
