// The SPA in a real browser against the real binary (access tokens live 3 s here):
// register → profile → reload stays logged in → expiry refreshes silently → two tabs refreshing
// at once stay logged in → revoke another device's session from the sessions page → logout in
// one tab shows in the other; cookie attributes read from the browser's cookie store.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  STRONG_PASSWORD,
  WEAK_PASSWORD,
  authCookies,
  countRequests,
  launchDevice,
  screenshot,
  sleep,
  startServer,
} from './harness.mjs';

const TTL_MS = 3_000;
const EXPIRE_WAIT_MS = TTL_MS + 700;
const email = `ada-${Date.now()}@example.com`;
let password = STRONG_PASSWORD;
let server;
let laptop;
let tab1;
let tab2;
let refreshes;

before(async () => {
  server = await startServer('spa');
  laptop = await launchDevice('laptop');
  refreshes = countRequests(laptop.context, '/api/auth/refresh');
  tab1 = await laptop.page();
});

after(async () => {
  await laptop?.close();
  await server?.stop();
});

const heading = (page) => page.getByRole('heading', { level: 1 });

test('the SPA is served with a strict CSP and the right cache headers', async () => {
  const index = await fetch(`${server.origin}/some/client/route`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const csp = index.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  const html = await index.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
  assert.doesNotMatch(html, /\sstyle=/i, 'no style attributes');
  const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
  assert.ok(script, `index.html references a hashed script: ${html}`);
  const asset = await fetch(`${server.origin}${script}`);
  assert.equal(asset.status, 200);
  assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(asset.headers.get('content-type') ?? '', /javascript/);
  const missing = await fetch(`${server.origin}/assets/nope-12345678.js`);
  assert.equal(missing.status, 404);
});

test('register with a strength meter, land on the profile', async () => {
  await tab1.goto(`${server.origin}/`);
  await tab1.waitForURL('**/login');
  await assertHeading(tab1, 'Log in');
  await screenshot(tab1, '01-login');

  await tab1.getByRole('link', { name: 'Create an account' }).click();
  await assertHeading(tab1, 'Create your account');
  await tab1.getByRole('textbox', { name: 'Name', exact: true }).fill('Ada Lovelace');
  await tab1.getByLabel('Email').fill(email);
  const passwordInput = tab1.getByLabel('Password', { exact: true });
  await passwordInput.fill(WEAK_PASSWORD);
  const summary = tab1.locator('.strength-summary');
  await assert.doesNotReject(summary.filter({ hasText: 'too easy to guess' }).waitFor());
  // The form refuses the weak password before asking the server.
  await tab1.getByRole('button', { name: 'Create account' }).click();
  await tab1.getByText('Choose a stronger password').waitFor();
  await screenshot(tab1, '02-register-weak-password');

  await passwordInput.fill(password);
  await summary.filter({ hasText: 'good to go' }).waitFor();
  // The refusal went with the weak password: no stale error beside a strong one.
  assert.equal(await tab1.getByText('Choose a stronger password').count(), 0);
  await screenshot(tab1, '03-register-strong-password');
  await tab1.getByRole('button', { name: 'Create account' }).click();
  await tab1.waitForURL('**/profile');
  await assertHeading(tab1, 'Profile');
  assert.equal(await tab1.getByTestId('profile-name').textContent(), 'Ada Lovelace');
});

test('cookies: HttpOnly tokens, readable CSRF token, all Secure and SameSite=Strict', async () => {
  const cookies = await authCookies(laptop.context, server.origin);
  assert.deepEqual(Object.keys(cookies).sort(), ['__Host-access', '__Host-csrf', '__Host-refresh']);
  for (const cookie of Object.values(cookies)) {
    assert.equal(cookie.secure, true, `${cookie.name} Secure`);
    assert.equal(cookie.sameSite, 'Strict', `${cookie.name} SameSite`);
    assert.equal(cookie.path, '/', `${cookie.name} Path`);
    assert.equal(cookie.domain, '127.0.0.1', `${cookie.name} host-only`);
  }
  assert.equal(cookies['__Host-access'].httpOnly, true);
  assert.equal(cookies['__Host-refresh'].httpOnly, true);
  assert.equal(cookies['__Host-csrf'].httpOnly, false);
  // What page scripts can see: the CSRF token only.
  const visible = await tab1.evaluate(() => document.cookie);
  assert.match(visible, /__Host-csrf=/);
  assert.doesNotMatch(visible, /__Host-(access|refresh)/);
});

test('edit the name; a reload stays logged in', async () => {
  await tab1.getByRole('textbox', { name: 'Name', exact: true }).fill('Ada King');
  await tab1.getByRole('button', { name: 'Save' }).click();
  await tab1.getByText('Your name was saved.').waitFor();
  assert.equal(await tab1.getByTestId('profile-name').textContent(), 'Ada King');
  await screenshot(tab1, '04-profile');

  await tab1.reload();
  await assertHeading(tab1, 'Profile');
  assert.equal(await tab1.getByTestId('profile-name').textContent(), 'Ada King');
});

test('an expired access token is refreshed silently, for reads and for writes', async () => {
  const before = refreshes.count;
  await sleep(EXPIRE_WAIT_MS);
  // The browser has dropped the access cookie (its Max-Age is the token's lifetime).
  assert.equal((await authCookies(laptop.context, server.origin))['__Host-access'], undefined);
  await tab1.reload();
  await assertHeading(tab1, 'Profile');
  assert.equal(refreshes.count, before + 1, 'one refresh for the reload');
  assert.ok((await authCookies(laptop.context, server.origin))['__Host-access'], 'new access cookie');

  await sleep(EXPIRE_WAIT_MS);
  // An unsafe request (PATCH with X-CSRF-Token) that meets an expired token: refresh, retry.
  await tab1.getByRole('textbox', { name: 'Name', exact: true }).fill('Ada Lovelace');
  await tab1.getByRole('button', { name: 'Save' }).click();
  await tab1.getByText('Your name was saved.').waitFor();
  assert.equal(await tab1.getByTestId('profile-name').textContent(), 'Ada Lovelace');
  assert.equal(refreshes.count, before + 2);
  assert.equal(new URL(tab1.url()).pathname, '/profile');
});

test('two tabs meeting an expired token at once both stay logged in', async () => {
  tab2 = await laptop.context.newPage();
  await tab2.goto(`${server.origin}/events`);
  await assertHeading(tab2, 'Security log');
  await sleep(EXPIRE_WAIT_MS);

  const before = refreshes.count;
  // Both tabs navigate (client-side) at the same moment: each gets a 401 and needs a refresh.
  await Promise.all([
    tab1.getByRole('link', { name: 'Sessions' }).click(),
    tab2.getByRole('link', { name: 'Sessions' }).click(),
  ]);
  await Promise.all([tab1.getByTestId('sessions-table').waitFor(), tab2.getByTestId('sessions-table').waitFor()]);
  const used = refreshes.count - before;
  // The Web Lock makes the second tab wait for the first; it normally hears of the refresh on the
  // BroadcastChannel and skips its own. Either way the server hands both the same successor.
  assert.ok(used >= 1 && used <= 2, `refreshes used: ${used}`);
  console.log(`# two tabs needed ${used} refresh(es)`);

  // And the session is healthy afterwards in both (no replay was detected).
  await tab1.reload();
  await tab2.reload();
  await tab1.getByTestId('sessions-table').waitFor();
  await tab2.getByTestId('sessions-table').waitFor();
});

test('revoke the session of another device from the sessions page', async () => {
  const phone = await launchDevice('phone', { viewport: { width: 390, height: 844 } });
  try {
    const page = await phone.page();
    await page.goto(`${server.origin}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/profile');
    await screenshot(page, '05-profile-mobile');

    await tab1.reload();
    const rows = tab1.getByTestId('sessions-table').locator('tbody tr');
    await waitForCount(rows, 2);
    assert.equal(await rows.filter({ has: tab1.getByText('This device') }).count(), 1);
    await screenshot(tab1, '06-sessions');

    await page.getByRole('link', { name: 'Sessions' }).click();
    await page.getByTestId('sessions-table').waitFor();
    await screenshot(page, '07-sessions-mobile');

    const other = rows.filter({ hasNot: tab1.getByText('This device') });
    await other.getByRole('button', { name: /Revoke session/ }).click();
    await tab1.getByText(/Revoked the session of/).waitFor();
    await waitForCount(rows, 1);

    // The phone's access token is refused at once (no waiting for it to expire): its next
    // request ends the session and the app says why.
    await page.getByRole('link', { name: 'Profile' }).click();
    await page.reload();
    await page.waitForURL('**/login');
    await page.getByText('Your session was ended elsewhere').waitFor();
    await screenshot(page, '08-session-ended-elsewhere-mobile');
    assert.deepEqual(phone.problems, []);
  } finally {
    await phone.close();
  }
});

test('the security log lists what happened', async () => {
  await tab1.getByRole('link', { name: 'Security log' }).click();
  const list = tab1.getByTestId('events-list');
  await list.waitFor();
  const kinds = await list.locator('li').evaluateAll((items) => items.map((li) => li.dataset.kind));
  assert.ok(kinds.includes('login_succeeded'), `events: ${kinds}`);
  // Registration shows as such, not as a login.
  assert.equal(kinds.at(-1), 'account_created', `events: ${kinds}`);
  await list.getByText('Account created').waitFor();
  assert.ok(kinds.includes('session_revoked'), `events: ${kinds}`);
  await screenshot(tab1, '09-security-log');
});

test('change the password with the strength meter', async () => {
  await tab1.getByRole('link', { name: 'Password' }).click();
  await assertHeading(tab1, 'Change password');
  const next = 'quartz lantern meadow violin 77';
  await tab1.getByLabel('Current password').fill('wrong password entirely');
  await tab1.getByLabel('New password', { exact: true }).fill(next);
  await tab1.getByLabel('Confirm new password').fill(next);
  await tab1.locator('.strength-summary').filter({ hasText: 'good to go' }).waitFor();
  await tab1.getByRole('button', { name: 'Change password' }).click();
  await tab1.getByText('The current password is not correct.').waitFor();
  await screenshot(tab1, '10-password-wrong-current');

  await tab1.getByLabel('Current password').fill(password);
  await tab1.getByRole('button', { name: 'Change password' }).click();
  await tab1.getByText('Your password was changed.').waitFor();
  password = next;
  // This session stays signed in.
  await tab1.reload();
  await assertHeading(tab1, 'Change password');
});

test('logout in one tab shows as logged out in the other, and clears the cookies', async () => {
  await tab2.goto(`${server.origin}/profile`);
  await assertHeading(tab2, 'Profile');
  await tab1.getByRole('button', { name: 'Log out', exact: true }).click();
  await tab1.waitForURL('**/login');
  await tab1.getByText('You have logged out.').waitFor();
  // No reload in tab 2: the BroadcastChannel tells it.
  await tab2.waitForURL('**/login');
  await tab2.getByText('You were logged out in another tab or window.').waitFor();
  await screenshot(tab2, '11-logged-out-in-other-tab');
  assert.deepEqual(await authCookies(laptop.context, server.origin), {});

  // Log back in with the new password: the other tab follows.
  await tab1.getByLabel('Email').fill(email);
  await tab1.getByLabel('Password', { exact: true }).fill('not the password at all');
  await tab1.getByRole('button', { name: 'Log in' }).click();
  await tab1.getByText('That email and password do not match an account.').waitFor();
  await tab1.getByLabel('Password', { exact: true }).fill(password);
  await tab1.getByRole('button', { name: 'Log in' }).click();
  await tab1.waitForURL('**/profile');
  await tab2.waitForURL('**/profile');
});

test('no page errors or CSP violations', () => {
  assert.deepEqual(laptop.problems, []);
});

async function assertHeading(page, text) {
  await heading(page).filter({ hasText: text }).waitFor();
}

async function waitForCount(locator, expected, timeout = 5_000) {
  const deadline = Date.now() + timeout;
  let count;
  while ((count = await locator.count()) !== expected) {
    if (Date.now() > deadline) assert.fail(`expected ${expected} rows, saw ${count}`);
    await sleep(50);
  }
}
