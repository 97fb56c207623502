// Fails the build when dist/index.html would break the server's CSP
// (script-src 'self'; style-src 'self'): no inline <script>, no <style>, no style= attributes,
// no inline event handlers, nothing loaded from another origin.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const problems = [];

for (const match of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
  const [, attrs, body] = match;
  if (!/\bsrc=/i.test(attrs) || body.trim() !== '') problems.push(`inline <script>: ${match[0].slice(0, 80)}`);
}
if (/<style\b/i.test(html)) problems.push('inline <style> element');
if (/\sstyle\s*=/i.test(html)) problems.push('style= attribute');
if (/\son[a-z]+\s*=/i.test(html)) problems.push('inline event handler attribute');
for (const match of html.matchAll(/\s(?:src|href)\s*=\s*["']([^"']+)["']/gi)) {
  const url = match[1];
  if (/^(?:[a-z]+:)?\/\//i.test(url)) problems.push(`cross-origin reference: ${url}`);
}
if (!readdirSync(join(dist, 'assets')).some((f) => f.endsWith('.js'))) problems.push('no JS in dist/assets');

if (problems.length > 0) {
  console.error(`dist/index.html violates the CSP:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('dist/index.html: no inline script or style, nothing cross-origin (CSP-safe)');
