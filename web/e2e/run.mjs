// Browser test of Airlock's dashboard, run by web/e2e_test.go:
//
//   node web/e2e/run.mjs <baseURL> <screenshot dir>
//
// playwright-core drives Debian's chromium (no browser download). The Go
// test owns the server and the simulated phone; this script owns the
// browser. They take turns: the script prints "STEP <name>" and waits for a
// line on stdin before going on.
//
// Environment: AIRLOCK_ADMIN, AIRLOCK_USER, AIRLOCK_PASSWORD,
// AIRLOCK_DEVICE_PK (the quarantined device's id), CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: node run.mjs <baseURL> <outdir>');
  process.exit(2);
}
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const admin = env('AIRLOCK_ADMIN');
const user = env('AIRLOCK_USER');
const password = env('AIRLOCK_PASSWORD');
const devicePK = env('AIRLOCK_DEVICE_PK');

// stdin lines, one per "go" from the Go test.
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

// Each browser profile is new and empty.
const userDataDir = mkdtempSync(join(tmpdir(), 'airlock-e2e-admin-'));
const userDataDir2 = mkdtempSync(join(tmpdir(), 'airlock-e2e-user-'));
const launch = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
};
const adminCtx = await chromium.launchPersistentContext(userDataDir, { ...launch, viewport: { width: 1280, height: 900 } });
const page = adminCtx.pages()[0] ?? (await adminCtx.newPage());
let userCtx;
const shot = (p, name, full = true) => p.screenshot({ path: join(outDir, `${name}.png`), fullPage: full });

async function signIn(p, login) {
  await p.goto(`${base}/login`);
  await p.fill('#login', login);
  await p.fill('#password', password);
  await Promise.all([p.waitForNavigation(), p.click('form[action="/login"] button[type=submit]')]);
}

let failed = false;
try {
  // 1. The administrator signs in and sees the device in the queue.
  await signIn(page, admin);
  expect(new URL(page.url()).pathname === '/admin', `admin lands on /admin, not ${page.url()}`);
  expect(await page.isVisible('text=Waiting in quarantine'), 'the overview lists waiting devices');
  await shot(page, 'overview');

  await page.click('nav >> text=Quarantine');
  const row = page.locator(`#q${devicePK}`);
  await row.waitFor();
  expect((await row.textContent()).includes("Alice's Pre"), 'the queue row names the device');
  await shot(page, 'quarantine');

  // 2. One click allows it (htmx swaps the row in place).
  await row.locator('button', { hasText: 'Allow' }).click();
  await page.locator(`#q${devicePK} .badge.allowed`).waitFor();
  await step('allowed');

  // The device page shows the decision, evidence and history.
  await page.goto(`${base}/admin/devices/${devicePK}`);
  await page.locator('h1 >> text=Allowed').waitFor();
  expect(await page.isVisible('text=device.allow'), 'the history lists the allow');
  await shot(page, 'device');

  // The device list, filtered by type.
  await page.goto(`${base}/admin/devices`);
  await page.selectOption('#state', 'allowed');
  await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
  expect((await page.textContent('main')).includes('matching device'), 'the list counts matches');
  await shot(page, 'devices');

  // The rule editor previews a rule before saving it.
  await page.goto(`${base}/admin/rules`);
  await page.selectOption('#field', 'type');
  await page.selectOption('#match', 'exact');
  await page.fill('#pattern', 'BlackBerry');
  await page.selectOption('#action', 'block');
  await page.fill('#priority', '5');
  await page.fill('#description', 'No BlackBerry 10 native mail');
  await page.click('button:has-text("Preview matching devices")');
  await page.locator('#preview >> text=The rule matches').waitFor();
  await page.locator('#preview').scrollIntoViewIfNeeded();
  await shot(page, 'rules-preview');

  // The policy editor: every setting, grouped.
  await page.goto(`${base}/admin/policy`);
  expect(await page.isChecked('input[name=RequireDeviceEncryption]'), 'the policy requires encryption');
  await shot(page, 'policy');

  await page.click('button:has-text("Sign out")');
  await page.waitForURL(`${base}/login`);

  // 3. The user, without JavaScript, wipes the lost phone.
  userCtx = await chromium.launchPersistentContext(userDataDir2, { ...launch, javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const up = userCtx.pages()[0] ?? (await userCtx.newPage());
  await signIn(up, user);
  expect(new URL(up.url()).pathname.startsWith('/mail/'), `staff land on their mail, not ${up.url()}`);
  await up.click('nav[aria-label="Main"] >> text=Account');
  const card = up.locator('.card', { hasText: "Alice's Pre" });
  await Promise.all([up.waitForNavigation(), card.locator('a', { hasText: 'Wipe this device' }).click()]);
  expect(await up.isVisible('text=Yes, I want to wipe this device'), 'a confirmation step');
  await shot(up, 'wipe-confirm');
  // Submitting without the box ticked does nothing (the browser refuses;
  // the server would too).
  await up.check('input[name=confirm]');
  await Promise.all([up.waitForNavigation(), up.click('button:has-text("Wipe the device")')]);
  expect(await up.isVisible('text=Wipe requested'), 'the wipe is confirmed');
  await step('wiped');

  await up.reload();
  await shot(up, 'my-devices');

  // A setup guide, as a signed-in user sees it, with the model picker.
  await up.goto(`${base}/setup/ios?model=iphone-3gs`);
  expect(await up.isVisible('text=mail.example.nhs.uk'), 'the guide names the server');
  await shot(up, 'setup-guide');
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true }); } catch {}
} finally {
  await adminCtx.close();
  if (userCtx) await userCtx.close();
  rmSync(userDataDir, { recursive: true, force: true });
  rmSync(userDataDir2, { recursive: true, force: true });
  lines.close();
}
process.exit(failed ? 1 : 0);
