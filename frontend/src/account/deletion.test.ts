import { describe, expect, it } from 'vitest';
import { canRequestDeletion, confirmsDeletion, exportFileName } from './deletion';

describe('the typed confirmation of an account deletion', () => {
  it('is the account address, whatever the case and surrounding spaces', () => {
    expect(confirmsDeletion('ada@example.com', 'ada@example.com')).toBe(true);
    expect(confirmsDeletion('  ADA@Example.com ', 'ada@example.com')).toBe(true);
  });

  it('refuses anything else', () => {
    expect(confirmsDeletion('', 'ada@example.com')).toBe(false);
    expect(confirmsDeletion('ada', 'ada@example.com')).toBe(false);
    expect(confirmsDeletion('ada@example.co', 'ada@example.com')).toBe(false);
    expect(confirmsDeletion('bob@example.com', 'ada@example.com')).toBe(false);
    expect(confirmsDeletion('delete', 'ada@example.com')).toBe(false);
    // No address (not signed in properly): nothing confirms.
    expect(confirmsDeletion('', '')).toBe(false);
  });

  it('also needs the current password before the request can be sent', () => {
    expect(canRequestDeletion('ada@example.com', 'ada@example.com', '')).toBe(false);
    expect(canRequestDeletion('ada@example.com', 'ada@example.com', 'secret')).toBe(true);
    expect(canRequestDeletion('bob@example.com', 'ada@example.com', 'secret')).toBe(false);
  });
});

describe('the name of the downloaded export', () => {
  const today = new Date('2026-12-02T10:00:00Z');

  it('is the one the server chose', () => {
    expect(exportFileName('attachment; filename="tessera-export-2026-12-01.json"', today)).toBe(
      'tessera-export-2026-12-01.json',
    );
  });

  it('falls back to a dated name when the header is missing or unsafe', () => {
    expect(exportFileName(null, today)).toBe('tessera-export-2026-12-02.json');
    expect(exportFileName('attachment', today)).toBe('tessera-export-2026-12-02.json');
    expect(exportFileName('attachment; filename="../../etc/passwd"', today)).toBe('tessera-export-2026-12-02.json');
    expect(exportFileName('attachment; filename=".bashrc"', today)).toBe('tessera-export-2026-12-02.json');
  });
});
