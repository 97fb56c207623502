import { describe, expect, it } from 'vitest';
import {
  cleanPasskeyName,
  defaultPasskeyName,
  groupKey,
  recoveryCodesFileName,
  recoveryCodesText,
  svgDataUrl,
} from './factors';

describe('the QR code', () => {
  it('becomes a base64 data URL of the SVG bytes, never markup in the page', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>';
    const url = svgDataUrl(svg);
    expect(url.startsWith('data:image/svg+xml;base64,')).toBe(true);
    const decoded = atob(url.slice('data:image/svg+xml;base64,'.length));
    expect(decoded).toBe(svg);
    expect(url).not.toContain('<');
  });

  it('keeps characters beyond Latin-1 (an issuer like “Tessera Zürich”)', () => {
    const svg = '<svg><title>Tessera Zürich ✓</title></svg>';
    const base64 = svgDataUrl(svg).split(',')[1] ?? '';
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    expect(new TextDecoder().decode(bytes)).toBe(svg);
  });
});

describe('the manual key', () => {
  it('is shown in groups of four, without padding', () => {
    expect(groupKey('jbswy3dpehpk3pxpjbswy3dpehpk3pxp')).toBe('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
    expect(groupKey('ABCDEF==')).toBe('ABCD EF');
    expect(groupKey('')).toBe('');
  });
});

describe('the recovery codes file', () => {
  const issued = new Date('2026-12-02T18:04:05Z');
  it('lists every code on its own line and says what they are', () => {
    const text = recoveryCodesText(['aaaa-bbbb-cccc', 'dddd-eeee-ffff'], 'ada@example.com', 'http://localhost:8080', issued);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Tessera recovery codes for ada@example.com');
    expect(lines).toContain('aaaa-bbbb-cccc');
    expect(lines).toContain('dddd-eeee-ffff');
    expect(text).toContain('2026-12-02 18:04 UTC');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('is named by date', () => {
    expect(recoveryCodesFileName(issued)).toBe('tessera-recovery-codes-2026-12-02.txt');
  });
});

describe('passkey names', () => {
  it('default to the device', () => {
    expect(
      defaultPasskeyName('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36'),
    ).toBe('Chrome on Linux');
    expect(defaultPasskeyName('some robot')).toBe('My passkey');
    expect(defaultPasskeyName(undefined)).toBe('My passkey');
  });

  it('are trimmed, single-spaced and bounded; empty is refused', () => {
    expect(cleanPasskeyName('  Work   laptop ')).toBe('Work laptop');
    expect(cleanPasskeyName('   ')).toBeNull();
    expect(cleanPasskeyName('x'.repeat(150))?.length).toBe(100);
  });
});
