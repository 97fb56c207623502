// A stolen refresh token, as the browser experiences it. An "attacker" copies the victim's
// refresh cookie and uses it first (a rotation); when the victim's browser later presents the
// stale token after the grace window, the server detects the replay and ends the whole session
// for both: the attacker's fresh tokens die too, and the SPA tells the victim why.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STRONG_PASSWORD, authCookies, launchDevice, screenshot, sleep, startServer } from './harness.mjs';

let server;
let device;

before(async () => {
  server = await startServer('theft', { TESSERA_ACCESS_TTL: '2s', TESSERA_REFRESH_GRACE: '1s' });
  device = await launchDevice('victim');
});

after(async () => {
  await device?.close();
  await server?.stop();
});

test('refresh-token replay ends the session and the SPA says so', async () => {
  const page = await device.page();
  await page.goto(`${server.origin}/register`);
  await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Vic Tim');
  await page.getByLabel('Email').fill('victim@example.com');
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/profile');

  // The attacker's copy of the cookies, used outside the browser.
  const stolen = await authCookies(device.context, server.origin);
  const cookieHeader = ['__Host-refresh', '__Host-csrf'].map((n) => `${n}=${stolen[n].value}`).join('; ');
  const attacker = await fetch(`${server.origin}/api/auth/refresh`, {
    method: 'POST',
    headers: { cookie: cookieHeader, 'x-csrf-token': stolen['__Host-csrf'].value },
  });
  assert.equal(attacker.status, 200, await attacker.text());
  const attackerJar = attacker.headers.getSetCookie().map((c) => c.split(';')[0]);
  const attackerRefresh = attackerJar.find((c) => c.startsWith('__Host-refresh='));
  assert.ok(attackerRefresh, 'the attacker got a rotated refresh token');

  // Past the access TTL and the grace window: the victim's next request needs a refresh, with
  // the token the attacker already rotated.
  await sleep(2_600);
  await page.getByRole('link', { name: 'Sessions' }).click();
  await page.waitForURL('**/login');
  await page.getByText('a sign-in token was used twice').waitFor();
  await screenshot(page, '40-refresh-token-reuse-detected');

  // The attacker's rotated refresh token is dead as well: the whole session was revoked.
  const again = await fetch(`${server.origin}/api/auth/refresh`, {
    method: 'POST',
    headers: {
      cookie: `${attackerRefresh}; __Host-csrf=${stolen['__Host-csrf'].value}`,
      'x-csrf-token': stolen['__Host-csrf'].value,
    },
  });
  assert.equal(again.status, 401);
  assert.ok(['session_revoked', 'refresh_reused'].includes((await again.json()).code));

  // And the event is on the record once the victim logs in again.
  await page.getByLabel('Email').fill('victim@example.com');
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL('**/sessions');
  await page.getByRole('link', { name: 'Security log' }).click();
  await page.locator('li[data-kind="refresh_reuse_detected"]').waitFor();
  await screenshot(page, '41-security-log-reuse');
  assert.deepEqual(device.problems, []);
});
