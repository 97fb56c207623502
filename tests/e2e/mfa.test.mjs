// Second factors and passkeys in a real browser against the real binary, with Chromium's virtual
// authenticator (CDP WebAuthn domain: CTAP2, resident keys, user verification) standing in for
// a platform authenticator: add a passkey on the Security page, log out, sign in with it; turn
// on the authenticator app (the test computes the codes from the key the page shows, RFC 6238),
// log out, log in with password + code; then with a recovery code; then the passkey button and
// password + passkey. The virtual authenticator answers conditional (autofill) requests at once,
// so the autofill is tested first and then turned off in the page for the steps that need the
// login form.
//
// The public origin is http://localhost:<port>: WebAuthn refuses an IP address as relying-party
// id, so on 127.0.0.1 the server answers 409 passkeys_unavailable.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { STRONG_PASSWORD, launchDevice, screenshot, startServer } from './harness.mjs';

const email = `grace-${Date.now()}@example.com`;
let server;
let device;
let page;
let cdp;
let authenticatorId;
let totpSecret;
let recoveryCodes = [];

before(async () => {
  // Access tokens outlive the test (no refresh in the middle of a ceremony); the re-auth window
  // is the default 10 minutes, so the fresh logins here satisfy it.
  server = await startServer('mfa', { TESSERA_ACCESS_TTL: '5m' }, { host: 'localhost' });
  device = await launchDevice('mfa');
  page = await device.page();
  cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  }));
  const response = await fetch(`${server.address}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: STRONG_PASSWORD, name: 'Grace Hopper' }),
  });
  assert.equal(response.status, 201, await response.text());
});

after(async () => {
  await device?.close();
  await server?.stop();
});

// ---------- RFC 6238 (TOTP, SHA-1, 6 digits, 30 s) on RFC 4226 (HOTP) ----------

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text.replace(/[\s=]/g, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

function hotp(key, counter) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);
const totp = (secret, step) => hotp(base32Decode(secret), step);

test('RFC 6238 in this test matches the RFC’s SHA-1 test vector', () => {
  // Appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits); 6 digits: 287082.
  assert.equal(hotp(Buffer.from('12345678901234567890'), Math.floor(59 / 30)), '287082');
  assert.equal(hotp(Buffer.from('12345678901234567890'), Math.floor(1111111109 / 30)), '081804');
});

// ---------- the flows ----------

const heading = (p, text) => p.getByRole('heading', { level: 1 }).filter({ hasText: text }).waitFor();

async function logOut() {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.waitForURL('**/login');
  await heading(page, 'Log in');
}

async function passwordStep() {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await heading(page, 'Two-step verification');
}

test('log in with the password; the Security page has no factor yet', async () => {
  await page.goto(`${server.origin}/login`);
  await heading(page, 'Log in');
  assert.equal(await page.getByLabel('Email').getAttribute('autocomplete'), 'username webauthn');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.waitForURL('**/profile');
  await page.getByRole('link', { name: 'Security', exact: true }).click();
  await heading(page, 'Security');
  await page.getByText('No passkeys yet.').waitFor();
  await page.getByRole('button', { name: 'Set up an authenticator app' }).waitFor();
});

test('add a passkey on the Security page', async () => {
  await page.getByLabel('Passkey name').fill('Virtual key');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Added the passkey “Virtual key”.').waitFor();
  await page.getByTestId('passkeys').getByText('Virtual key').waitFor();
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
  assert.equal(credentials[0].rpId, 'localhost');
  await screenshot(page, 'mfa-01-passkey-added');

  // Renamed in place.
  await page.getByRole('button', { name: 'Rename Virtual key' }).click();
  await page.getByLabel('New name').fill('Test authenticator');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Renamed to “Test authenticator”.').waitFor();
});

test('log out: the passkey autofill of the email field signs in (no email, no password)', async () => {
  // The login page starts a conditional-mediation request on mount; Chromium's virtual
  // authenticator answers it at once, as a user picking the passkey from the autofill would.
  await logOut();
  await page.waitForURL('**/profile');
  const me = await page.evaluate(async () => (await fetch('/api/me', { credentials: 'include' })).json());
  assert.equal(me.email, email);
  assert.ok(me.amr.includes('mfa') && me.amr.includes('user'), `a verified passkey is two factors: ${me.amr}`);
});

test('from here on, a browser without passkey autofill (so the password steps can be driven)', async () => {
  await page.context().addInitScript(() =>
    Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable', { value: async () => false }),
  );
  await page.goto(`${server.origin}/security`);
  await heading(page, 'Security');
  assert.equal(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), false);
});

test('turn on the authenticator app with a code computed from the shown key; recovery codes shown once', async () => {
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const qr = page.getByRole('img', { name: /QR code/ });
  await qr.waitFor();
  assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml;base64,/);
  totpSecret = (await page.getByTestId('totp-secret').textContent()).replace(/\s+/g, '');
  assert.match(totpSecret, /^[A-Z2-7]{16,}$/);
  await screenshot(page, 'mfa-02-totp-setup');

  await page.getByLabel('Code from the app').fill(totp(totpSecret, currentStep()));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.getByText('Two-step verification is on.').waitFor();
  const list = page.getByTestId('recovery-codes');
  await list.waitFor();
  recoveryCodes = (await list.locator('code').allTextContents()).map((c) => c.trim());
  assert.equal(recoveryCodes.length, 10);
  assert.equal(new Set(recoveryCodes).size, 10);
  await page.getByRole('button', { name: 'Copy' }).waitFor();
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download (.txt)' }).click();
  assert.match((await download).suggestedFilename(), /^tessera-recovery-codes-\d{4}-\d{2}-\d{2}\.txt$/);
  await screenshot(page, 'mfa-03-recovery-codes');

  await page.getByRole('button', { name: 'I have saved my codes' }).click();
  assert.equal(await list.count(), 0, 'the codes are gone from the page');
  await page.getByTestId('recovery-codes-left').filter({ hasText: '10' }).waitFor();
});

test('log out, log in with the password and a code from the app', async () => {
  await logOut();
  await passwordStep();
  await screenshot(page, 'mfa-04-challenge');
  // The confirmation used up the current time step; the next one is within the ±1 window.
  await page.getByLabel('6-digit code').fill(totp(totpSecret, currentStep() + 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL('**/profile');
});

test('a wrong code says so; a recovery code signs in, once', async () => {
  await logOut();
  await passwordStep();
  await page.getByLabel('6-digit code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByText(/That code is not correct.*4 attempts left/).waitFor();

  await page.getByRole('button', { name: 'Recovery code' }).click();
  await page.getByLabel('Recovery code').fill(recoveryCodes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL('**/profile');
  await page.getByRole('link', { name: 'Security', exact: true }).click();
  await page.getByTestId('recovery-codes-left').filter({ hasText: '9' }).waitFor();
});

test('log out, sign in with the passkey button', async () => {
  await logOut();
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL('**/profile');
});

test('log out, log in with the password and the passkey as second factor', async () => {
  await logOut();
  await passwordStep();
  await page.getByRole('button', { name: 'Passkey', exact: true }).click();
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.waitForURL('**/profile');
  assert.deepEqual(device.problems, []);
});
