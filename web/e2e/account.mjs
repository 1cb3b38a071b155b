// Browser test of the account page, run by web/e2e_account_test.go:
//
//   node web/e2e/account.mjs <baseURL> <screenshot dir>
//
// Two browser profiles sign in as the same user. In the first, the user
// finds /account from the navigation (axe-core, screenshots at 1366x768 and
// 390x844), is refused a change with a wrong current password (the error
// next to the field), then changes the password and stays signed in. The
// second profile is sent to sign-in on its next click, and signs in with
// the new password, as on a shared computer (a cookie without expiry).
//
// Environment: AIRLOCK_USER, AIRLOCK_PASSWORD, AIRLOCK_NEW_PASSWORD, CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, outDir] = process.argv.slice(2);
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const user = env('AIRLOCK_USER');
const password = env('AIRLOCK_PASSWORD');
const newPassword = env('AIRLOCK_NEW_PASSWORD');
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

const launch = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1366, height: 768 },
};
const dirA = mkdtempSync(join(tmpdir(), 'airlock-e2e-account-a-'));
const dirB = mkdtempSync(join(tmpdir(), 'airlock-e2e-account-b-'));
const ctxA = await chromium.launchPersistentContext(dirA, launch);
const ctxB = await chromium.launchPersistentContext(dirB, launch);
const a = ctxA.pages()[0] ?? (await ctxA.newPage());
const b = ctxB.pages()[0] ?? (await ctxB.newPage());

async function signIn(p, pw) {
  await p.goto(`${base}/login`);
  await p.fill('#login', user);
  await p.fill('#password', pw);
  await Promise.all([p.waitForNavigation(), p.click('form[action="/login"] button[type=submit]')]);
}

let failed = false;
try {
  await signIn(a, password);
  await signIn(b, password);
  expect(new URL(b.url()).pathname.startsWith('/mail/'), `the second browser is signed in (${b.url()})`);

  // The account page, from the navigation.
  await Promise.all([a.waitForNavigation(), a.click('nav[aria-label="Main"] >> text=Account')]);
  expect(new URL(a.url()).pathname === '/account', `Account opens /account, not ${a.url()}`);
  expect(await a.isVisible('h1:has-text("Your account")'), 'the heading');
  for (const h of ['Change your password', 'Automatic replies', 'My devices', 'Who can use my mailbox']) {
    expect(await a.isVisible(`h2:has-text("${h}")`), `the section ${h}`);
  }
  expect((await a.getAttribute('nav[aria-label="Main"] a[href="/account"]', 'aria-current')) === 'page', 'the navigation marks Account');
  await axeCheck(a, 'account');
  await shots(a, 'account');

  // A wrong current password: refused, the error next to the field.
  await a.fill('#pw-current', 'not-my-password');
  await a.fill('#pw-new', newPassword);
  await a.fill('#pw-confirm', newPassword);
  await Promise.all([a.waitForNavigation(), a.click('button:has-text("Change password")')]);
  expect(await a.isVisible('#pw-current-err:has-text("not right")'), 'the error next to the current password');
  expect((await a.getAttribute('#pw-current', 'aria-invalid')) === 'true', 'the field is marked invalid');
  await axeCheck(a, 'account with errors');

  // The change, by keyboard.
  await a.fill('#pw-current', password);
  await a.fill('#pw-new', newPassword);
  await a.fill('#pw-confirm', newPassword);
  await a.focus('#pw-confirm');
  await Promise.all([a.waitForNavigation(), a.keyboard.press('Enter')]);
  expect(await a.isVisible('text=Your password is changed'), 'the change is confirmed');
  await Promise.all([a.waitForNavigation(), a.click('nav[aria-label="Main"] >> text=Mail')]);
  expect(new URL(a.url()).pathname.startsWith('/mail/'), `this browser stays signed in (${a.url()})`);

  // The other browser: its next click goes to sign-in.
  await Promise.all([b.waitForNavigation(), b.click('nav[aria-label="Main"] >> text=Account')]);
  expect(new URL(b.url()).pathname === '/login', `the other browser is sent to sign-in, not ${b.url()}`);
  await signIn(b, password);
  expect(await b.isVisible('text=The address or password is not right'), 'the old password is refused');
  // Signing in again, on a shared computer: the cookie ends with the
  // browser (no expiry), unlike the first browser's.
  await b.goto(`${base}/login`);
  await axeCheck(b, 'sign-in');
  await b.fill('#login', user);
  await b.fill('#password', newPassword);
  await b.check('#shared');
  await Promise.all([b.waitForNavigation(), b.click('form[action="/login"] button[type=submit]')]);
  expect(new URL(b.url()).pathname !== '/login', 'the new password signs in');
  const sessionOf = async (ctx) => (await ctx.cookies()).find((c) => c.name === 'airlock_session');
  expect((await sessionOf(ctxB)).expires === -1, 'a shared computer gets a browser-session cookie');
  expect((await sessionOf(ctxA)).expires > Date.now() / 1000, 'a normal session gets a persistent cookie');
  console.log('STEP done');
} catch (err) {
  failed = true;
  console.log(`FAIL ${err.message}`);
  console.error(err);
  try { await a.screenshot({ path: join(outDir, 'account-failure-a.png'), fullPage: true }); } catch {}
  try { await b.screenshot({ path: join(outDir, 'account-failure-b.png'), fullPage: true }); } catch {}
} finally {
  await ctxA.close();
  await ctxB.close();
  rmSync(dirA, { recursive: true, force: true });
  rmSync(dirB, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
