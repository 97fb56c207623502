// The Security page's rules, kept out of the components so they are tested alone: how the QR code
// is shown, how keys and codes are grouped for reading, the recovery-codes file, a passkey's
// default name.

import { describeUserAgent } from '../format';

/**
 * The server's QR code SVG as an image URL. An `<img>` renders SVG as a picture: scripts,
 * event handlers and external loads inside it never run, unlike SVG put into the page with
 * innerHTML. Base64 of the UTF-8 bytes, so any character survives.
 */
export function svgDataUrl(svg: string): string {
  const bytes = new TextEncoder().encode(svg);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

/** A base32 secret in groups of four, as authenticator apps show and accept it typed. */
export function groupKey(secret: string): string {
  return (
    secret
      .replace(/[\s=]+/g, '')
      .toUpperCase()
      .match(/.{1,4}/g)
      ?.join(' ') ?? ''
  );
}

/** The downloadable recovery codes: plain text, one code a line, saying what they are for. */
export function recoveryCodesText(codes: readonly string[], account: string, origin: string, issued: Date): string {
  return [
    `Tessera recovery codes for ${account}`,
    `${origin}`,
    `Generated ${issued.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    'Each code signs you in once when you cannot use your authenticator app or passkey.',
    'Keep them somewhere safe. Generating new codes makes these ones stop working.',
    '',
    ...codes,
    '',
  ].join('\n');
}

export function recoveryCodesFileName(issued: Date): string {
  return `tessera-recovery-codes-${issued.toISOString().slice(0, 10)}.txt`;
}

/** A name the user can keep or change, telling devices apart ("Chrome on Linux"). */
export function defaultPasskeyName(userAgent: string | undefined): string {
  // Only a recognised "browser on system"; a raw user agent string makes a poor name.
  const device = describeUserAgent(userAgent ?? null);
  return / on /.test(device) ? device : 'My passkey';
}

/** Trims and bounds a passkey name (the server takes 1 to 100 characters); null when nothing is left. */
export function cleanPasskeyName(name: string): string | null {
  const cleaned = name.trim().replace(/\s+/g, ' ');
  return cleaned === '' ? null : cleaned.slice(0, 100);
}
