// Administration in the browser: an admin (made with `tessera user create --admin`) lists users,
// disables one (whose open session ends at once), enables them again and revokes their sessions.
// A plain user sees no admin page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STRONG_PASSWORD, launchDevice, screenshot, startServer } from './harness.mjs';

const adminEmail = 'root@example.com';
const userEmail = 'lin@example.com';
let server;
let adminDevice;
let userDevice;
let admin;
let user;

async function logIn(page, email) {
  await page.goto(`${server.origin}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  // Back to the page the user was on, or the profile.
  await page.waitForURL((url) => url.pathname !== '/login');
  await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();
}

before(async () => {
  server = await startServer('admin', { TESSERA_ACCESS_TTL: '1m' });
  const created = await server.cli(['user', 'create', '--email', adminEmail, '--name', 'Root', '--admin'], `${STRONG_PASSWORD}\n`);
  assert.match(created, /admin/);
  const response = await fetch(`${server.origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: userEmail, password: STRONG_PASSWORD, name: 'Lin' }),
  });
  assert.equal(response.status, 201);
  adminDevice = await launchDevice('admin');
  userDevice = await launchDevice('user');
  admin = await adminDevice.page();
  user = await userDevice.page();
});

after(async () => {
  await adminDevice?.close();
  await userDevice?.close();
  await server?.stop();
});

test('a plain user has no admin page', async () => {
  await logIn(user, userEmail);
  assert.equal(await user.getByRole('link', { name: 'Users' }).count(), 0);
  await user.goto(`${server.origin}/admin/users`);
  await user.getByRole('heading', { name: 'Not allowed' }).waitFor();
  await user.getByRole('link', { name: 'Profile' }).click();
});

test('the admin disables a user: their open session ends at once', async () => {
  await logIn(admin, adminEmail);
  await admin.getByRole('link', { name: 'Users' }).click();
  const table = admin.getByTestId('users-table');
  await table.waitFor();
  const row = table.locator(`tr[data-user-email="${userEmail}"]`);
  await row.getByText('Active').waitFor();
  // The admin cannot disable themselves from here.
  assert.equal(await table.locator(`tr[data-user-email="${adminEmail}"]`).getByRole('button', { name: /^Disable/ }).isDisabled(), true);
  await screenshot(admin, '30-admin-users');

  await row.getByRole('button', { name: `Disable ${userEmail}` }).click();
  await admin.getByText(`${userEmail} is disabled`).waitFor();
  await row.getByText('Disabled').waitFor();
  await screenshot(admin, '31-admin-user-disabled');

  // The user's access token is still within its lifetime, yet refused now.
  await user.getByRole('link', { name: 'Sessions' }).click();
  await user.waitForURL('**/login');
  await user.getByText('Your session was ended elsewhere').waitFor();

  await user.getByLabel('Email').fill(userEmail);
  await user.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await user.getByRole('button', { name: 'Log in' }).click();
  await user.getByText('That email and password do not match an account.').waitFor();
});

test('enable again, then revoke all their sessions', async () => {
  const row = admin.getByTestId('users-table').locator(`tr[data-user-email="${userEmail}"]`);
  await row.getByRole('button', { name: `Enable ${userEmail}` }).click();
  await row.getByText('Active').waitFor();

  await logIn(user, userEmail);
  await row.getByRole('button', { name: `Revoke all sessions of ${userEmail}` }).click();
  await admin.getByText(`Every session of ${userEmail} has ended.`).waitFor();
  await user.reload();
  await user.waitForURL('**/login');
  await user.getByText('Your session was ended elsewhere').waitFor();
});

test('no page errors or CSP violations', () => {
  assert.deepEqual(adminDevice.problems, []);
  assert.deepEqual(userDevice.problems, []);
});

test('on a 375 px phone every nav item is in sight and works; session values sit beside their labels', async () => {
  const phone = await launchDevice('admin-phone', { viewport: { width: 375, height: 740 } });
  try {
    const page = await phone.page();
    await logIn(page, adminEmail);
    const nav = page.getByRole('navigation', { name: 'Account' });
    for (const [name, heading] of [
      ['Profile', 'Profile'],
      ['Password', 'Change password'],
      ['Sessions', 'Sessions'],
      ['Security log', 'Security log'],
      ['Users', 'Users'],
    ]) {
      const link = nav.getByRole('link', { name, exact: true });
      const box = await link.boundingBox();
      assert.ok(box, `${name} is rendered`);
      assert.ok(box.x >= 0 && box.x + box.width <= 375, `${name} lies within the 375 px screen: ${JSON.stringify(box)}`);
      await link.click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    }
    await nav.getByRole('link', { name: 'Sessions', exact: true }).click();
    await page.getByTestId('sessions-table').waitFor();
    await screenshot(page, 'admin-phone-sessions-375');
    // Each value starts in its own column, right of its label, on every line it wraps to.
    const misplaced = await page.getByTestId('sessions-table').evaluate((table) =>
      [...table.querySelectorAll('td[data-label]')].flatMap((cell) => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        const cellLeft = cell.getBoundingClientRect().left;
        return [...range.getClientRects()]
          .filter((rect) => rect.left - cellLeft < 100)
          .map(() => `${cell.dataset.label}: "${cell.textContent}"`);
      }),
    );
    assert.deepEqual(misplaced, []);
    assert.deepEqual(phone.problems, []);
  } finally {
    await phone.close();
  }
});
