// Mail in a real browser, through a real SMTP server (tests/mail/smtp_sink.py) on loopback:
// register → the verification mail's link → confirm → the unverified banner is gone; log out →
// "Forgot password?" → the reset mail's link → a new password → the link is dead after use → log
// in with the new password; delete the account from the danger zone → signed out here and on a
// second device at once. The links carry
// their token in the fragment; each page removes it from the address bar and consumes nothing
// until its button is pressed.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STRONG_PASSWORD, launchDevice, mailLink, screenshot, startServer, startSmtpSink } from './harness.mjs';

const email = `grace-${Date.now()}@example.com`;
const NEW_PASSWORD = 'lantern meadow copper violin 7';
let sink;
let server;
let device;
let page;

before(async () => {
  sink = await startSmtpSink('mail');
  server = await startServer('mail', { TESSERA_SMTP_URL: sink.url });
  device = await launchDevice('mail');
  page = await device.page();
});

after(async () => {
  await device?.close();
  await server?.stop();
  await sink?.stop();
});

const to = (address) => (message) => message.to.includes(address) || message.rcpt_tos.includes(address);

/** Opens a mail link; the page must drop the token from the address bar at once. */
async function openMailLink(link) {
  await page.goto(link);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.waitForFunction(() => window.location.hash === '');
  assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
}

test('register → verification mail → confirm → the banner is gone', async () => {
  await page.goto(`${server.origin}/register`);
  await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Grace Hopper');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/profile');
  const banner = page.getByTestId('unverified-banner');
  await banner.waitFor();
  await screenshot(page, '50-unverified-banner');

  const mail = await sink.waitForMail((m) => to(email)(m) && /\/verify-email#token=/.test(m.text.join('\n')));
  assert.ok(mail.html.length > 0, 'the mail has an HTML part too');
  await openMailLink(mailLink(mail, '/verify-email'));
  // Opening the page consumed nothing: the banner is still there until the button is pressed.
  await banner.waitFor();
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await page.getByText('Your address is verified.').waitFor();
  await banner.waitFor({ state: 'detached' });
  await screenshot(page, '51-address-verified');
  await page.getByRole('link', { name: 'Go to your profile' }).click();
  await page.getByText('verified', { exact: true }).waitFor();
  assert.equal(await banner.count(), 0);
});

test('forgot password → reset mail → new password → log in with it', async () => {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL('**/login');
  await page.getByRole('link', { name: 'Forgot password?' }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.getByText('If an account exists for that address').waitFor();

  const mail = await sink.waitForMail((m) => to(email)(m) && /\/reset-password#token=/.test(m.text.join('\n')));
  const link = mailLink(mail, '/reset-password');
  await openMailLink(link);
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.locator('.strength-summary').filter({ hasText: 'good to go' }).waitFor();
  await page.getByLabel('Confirm new password', { exact: true }).fill(NEW_PASSWORD);
  await screenshot(page, '52-reset-password');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.getByText('Password changed').waitFor();

  // The link works once: opened again, it is dead, and says where to get a new one.
  await openMailLink(link);
  await page.getByLabel('New password', { exact: true }).fill(`${NEW_PASSWORD} again`);
  await page.getByLabel('Confirm new password', { exact: true }).fill(`${NEW_PASSWORD} again`);
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.getByText('This link is invalid or has expired.').waitFor();
  await page.getByRole('link', { name: 'Request a new link' }).waitFor();

  await page.goto(`${server.origin}/login`);

  await page.waitForURL('**/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL('**/profile');
  // The one failed request Chromium logs: the used link's 400 token_invalid.
  assert.deepEqual(device.problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
});

test('delete the account → signed out here and on another device', async () => {
  const phone = await launchDevice('mail-phone', { viewport: { width: 375, height: 740 } });
  try {
    const other = await phone.page();
    await other.goto(`${server.origin}/login`);
    await other.getByLabel('Email').fill(email);
    await other.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
    await other.getByRole('button', { name: 'Log in' }).click();
    await other.waitForURL('**/profile');

    await page.goto(`${server.origin}/profile`);
    const zone = page.locator('.danger-zone');
    const remove = zone.getByRole('button', { name: 'Delete my account' });
    await zone.getByLabel(/Type your email address/).fill(email);
    await zone.getByLabel('Current password').fill(NEW_PASSWORD);
    await remove.click();
    await page.waitForURL('**/login');
    await page.getByText('Your account was deleted.').waitFor();

    // The other device's session ended with it: its next request finds no session.
    await other.reload();
    await other.waitForURL('**/login');
    const back = await page.request.post(`${server.origin}/api/auth/login`, {
      data: { email, password: NEW_PASSWORD },
      headers: { origin: server.origin },
    });
    assert.equal(back.status(), 401, 'the account is gone');
  } finally {
    await phone.close();
  }
});
