// Shared set-up for the browser tests: the real `tessera` binary on a free port with its own temp
// data dir, and Debian's Chromium driven by playwright-core with a fresh profile.
//
// Environment:
//   TESSERA_BIN        the binary (default: <repo>/target/debug/tessera)
//   CHROMIUM_PATH      the browser (default: /usr/bin/chromium)
//   E2E_ARTIFACTS      screenshots and server logs (default: <repo>/target/e2e-artifacts)
//   E2E_HEADED=1       show the browser (needs a display)

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = process.env.E2E_ARTIFACTS ?? join(ROOT, 'target', 'e2e-artifacts');
const BIN = process.env.TESSERA_BIN ?? join(ROOT, 'target', 'debug', 'tessera');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// As the machine notes say: without the background-networking flags Chromium keeps dialling
// Google's hosts, which this closed network refuses.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

mkdirSync(ARTIFACTS, { recursive: true });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function cleanEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TESSERA_') && key !== 'DATABASE_URL') env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Starts `tessera serve` on 127.0.0.1 and waits until /api/health answers. The pages use one
 * host name throughout (cookies set for one are not sent to the other): 127.0.0.1, or with
 * `{ host: 'localhost' }` localhost, which becomes the public origin. Passkeys need that one:
 * WebAuthn refuses an IP address as relying-party id, so on 127.0.0.1 the server answers 409
 * `passkeys_unavailable`.
 */
export async function startServer(name, env = {}, { host = '127.0.0.1' } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} does not exist: run \`cargo build -p tessera-api\` (or set TESSERA_BIN)`);
  }
  const port = await freePort();
  const origin = `http://${host}:${port}`;
  // Node's own requests (the health check) go to the address the server listens on.
  const listening = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-e2e-'));
  const serverEnv = cleanEnv({
    TESSERA_ADDR: `127.0.0.1:${port}`,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_ACCESS_TTL: '3s',
    TESSERA_RATE_LIMIT_PER_IP: '0',
    TESSERA_LOG_FORMAT: 'pretty',
    RUST_LOG: 'info',
    NO_COLOR: '1',
    ...(host === '127.0.0.1' ? {} : { TESSERA_PUBLIC_ORIGIN: origin }),
    ...env,
  });
  const log = createWriteStream(join(ARTIFACTS, `${name}-server.log`));
  const child = spawn(BIN, ['serve'], { env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`tessera exited during start-up (${JSON.stringify(exited)}); see ${name}-server.log`);
    try {
      const response = await fetch(`${listening}/api/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('tessera did not become healthy within 30 s');
    await sleep(100);
  }

  return {
    origin,
    /** Where Node's own requests go (`origin` may name localhost, which Node may resolve to ::1). */
    address: listening,
    port,
    dataDir,
    /** Runs a `tessera` subcommand against the same data dir (e.g. `user create`). */
    cli(args, stdin = '') {
      return new Promise((resolveRun, reject) => {
        const run = spawn(BIN, args, { env: serverEnv, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        run.stdout.on('data', (chunk) => (out += chunk));
        run.stderr.on('data', (chunk) => (out += chunk));
        run.on('error', reject);
        run.on('exit', (code) =>
          code === 0 ? resolveRun(out) : reject(new Error(`tessera ${args.join(' ')} failed (${code}): ${out}`)),
        );
        run.stdin.end(stdin);
      });
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const started = Date.now();
        while (!exited && Date.now() - started < 5_000) await sleep(50);
        if (!exited) child.kill('SIGKILL');
      }
      log.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A real SMTP server on loopback (tests/mail/smtp_sink.py on Debian's aiosmtpd) that writes every
 * message it accepts as <n>.json (the parsed view of smtp_sink.py's describe()) into its own temp
 * dir. Point the server at it with `TESSERA_SMTP_URL: sink.url`.
 */
export async function startSmtpSink(name) {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'tessera-e2e-smtp-'));
  const log = createWriteStream(join(ARTIFACTS, `${name}-smtp.log`));
  const child = spawn('/usr/bin/python3', [join(ROOT, 'tests/mail/smtp_sink.py'), 'serve', '--port', String(port), '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.pipe(log, { end: false });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  await new Promise((resolveReady, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('smtp_sink.py did not print "ready" within 30 s')), 30_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      log.write(chunk);
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`smtp_sink.py exited during start-up (${code}); see ${name}-smtp.log`));
    });
  });

  const messages = async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8'))));
  };

  return {
    url: `smtp://127.0.0.1:${port}?tls=none`,
    dir,
    messages,
    /** The first message received that `matches` (polls: the server sends from its queue). */
    async waitForMail(matches, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = (await messages()).find(matches);
        if (found) return found;
        if (exited) throw new Error(`smtp_sink.py exited (${JSON.stringify(exited)})`);
        if (Date.now() > deadline) throw new Error(`no matching mail within ${timeoutMs} ms in ${dir}`);
        await sleep(100);
      }
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const started = Date.now();
        while (!exited && Date.now() - started < 5_000) await sleep(50);
        if (!exited) child.kill('SIGKILL');
      }
      log.end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The first link in a message's text part that goes to `path` (a mail page like /verify-email). */
export function mailLink(message, path) {
  const text = message.text.join('\n');
  const link = text.match(/https?:\/\/[^\s<>"]+/g)?.find((url) => new URL(url).pathname === path);
  if (!link) throw new Error(`no ${path} link in the mail "${message.subject}": ${text}`);
  return link;
}

/**
 * A browser with a fresh, empty profile (its own --user-data-dir), like a new device. Collects
 * page errors and CSP violations so tests can assert there were none.
 */
export async function launchDevice(name, { viewport = { width: 1280, height: 860 } } = {}) {
  const profile = await mkdtemp(join(tmpdir(), `tessera-e2e-chromium-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: process.env.E2E_HEADED !== '1',
    args: CHROMIUM_ARGS,
    viewport,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  const problems = [];
  const watch = (page) => {
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      const text = msg.text();
      // A failed API call is logged by Chromium as a console error ("Failed to load resource:
      // the server responded with a status of 401"): expected while refreshing, not a problem.
      if (msg.type() === 'error' && !/status of (401|404|403|422)/.test(text)) {
        problems.push(`console: ${text}`);
      }
      if (/Content Security Policy/i.test(text)) problems.push(`csp: ${text}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    problems,
    async page() {
      return context.pages().find((p) => p.url() === 'about:blank') ?? context.newPage();
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

/** Counts requests to `path` made by every page of a context (including workers). */
export function countRequests(context, path) {
  const counter = { count: 0 };
  context.on('request', (request) => {
    if (new URL(request.url()).pathname === path) counter.count += 1;
  });
  return counter;
}

/** The auth cookies as the browser's cookie store holds them, by name. */
export async function authCookies(context, origin) {
  const cookies = await context.cookies(origin);
  return Object.fromEntries(cookies.filter((c) => c.name.startsWith('__Host-')).map((c) => [c.name, c]));
}

export const STRONG_PASSWORD = 'velvet orbit canyon pickle 42';
export const WEAK_PASSWORD = 'password1234';
