// The rules of the profile page's danger zone, kept out of the component so they are tested
// alone: when the typed confirmation unlocks deletion, and what the downloaded file is named.

/**
 * Whether `typed` confirms deleting the account of `email`: the address itself, as the server
 * compares addresses (surrounding spaces and letter case do not matter).
 */
export function confirmsDeletion(typed: string, email: string): boolean {
  const normalise = (text: string) => text.trim().normalize('NFC').toLowerCase();
  return email.trim() !== '' && normalise(typed) === normalise(email);
}

/** Deletion may be requested once the address is confirmed and a password is entered. */
export function canRequestDeletion(typed: string, email: string, password: string): boolean {
  return confirmsDeletion(typed, email) && password.length > 0;
}

/**
 * The file name the server chose (`Content-Disposition: attachment; filename="…"`), or a
 * dated default. Only a plain name is taken: no path separators, nothing starting with a dot.
 */
export function exportFileName(contentDisposition: string | null, today: Date): string {
  const match = /filename="([^"]+)"/.exec(contentDisposition ?? '');
  const name = match?.[1];
  if (name && /^[\w][\w.-]*$/.test(name)) return name;
  return `tessera-export-${today.toISOString().slice(0, 10)}.json`;
}
