// Swagger UI at /api/docs, used as a person would: "Try it out" on login, then on GET /api/me.
// The browser keeps the HttpOnly cookies from the login and sends them with the second call.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { ARTIFACTS, STRONG_PASSWORD, authCookies, launchDevice, startServer } from './harness.mjs';

let server;
let device;
const email = `grace-${Date.now()}@example.com`;

before(async () => {
  server = await startServer('swagger', { TESSERA_ACCESS_TTL: '2m' });
  const response = await fetch(`${server.origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: STRONG_PASSWORD, name: 'Grace Hopper' }),
  });
  assert.equal(response.status, 201, await response.text());
  device = await launchDevice('swagger');
});

after(async () => {
  await device?.close();
  await server?.stop();
});

/** Expands an operation, presses "Try it out", optionally fills the body, executes. */
async function tryItOut(page, operationId, body) {
  const op = page.locator(`[id$="-${operationId}"].opblock`);
  await op.locator('.opblock-summary').first().click();
  await op.getByRole('button', { name: 'Try it out' }).click();
  if (body !== undefined) {
    await op.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2));
  }
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() !== 'OPTIONS' && r.url().startsWith(server.origin + '/api/') && !r.url().endsWith('/openapi.json')),
    op.getByRole('button', { name: 'Execute' }).click(),
  ]);
  await op.locator('.live-responses-table tbody .response-col_status').first().waitFor();
  return { op, response };
}

test('Swagger UI: try-it-out login, then GET /api/me succeeds in the browser', async () => {
  const page = await device.page();
  await page.goto(`${server.origin}/api/docs`);
  await page.locator('.swagger-ui .information-container').waitFor();

  const login = await tryItOut(page, 'login', { email, password: STRONG_PASSWORD });
  assert.equal(login.response.status(), 200, await login.response.text());
  const live = login.op.locator('.live-responses-table tbody .response-col_status').first();
  assert.equal((await live.textContent())?.trim(), '200');
  const cookies = await authCookies(device.context, server.origin);
  assert.ok(cookies['__Host-access']?.httpOnly, 'login set the HttpOnly access cookie');
  await login.op.screenshot({ path: join(ARTIFACTS, '20-swagger-login.png') });

  const me = await tryItOut(page, 'get_me');
  assert.equal(me.response.status(), 200, await me.response.text());
  const body = await me.response.json();
  assert.equal(body.email, email);
  assert.equal(body.name, 'Grace Hopper');
  await me.op.locator('.live-responses-table').getByText(email).first().waitFor();
  await me.op.screenshot({ path: join(ARTIFACTS, '21-swagger-me.png') });
});
