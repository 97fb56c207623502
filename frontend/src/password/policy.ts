// The server's password policy (crates/auth-core/src/password.rs `check_policy`), mirrored so the
// form can say what the server will say before it is asked:
//   - at least 12 and at most 256 characters (Unicode code points, like Rust's `chars()`);
//   - a zxcvbn score of at least 3, with the email, its local part and the name as user inputs.
// The server stays the authority: its 422 message is shown if the two ever disagree.

export const PASSWORD_MIN_CHARS = 12;
export const PASSWORD_MAX_CHARS = 256;
export const REQUIRED_SCORE = 3;

export type Score = 0 | 1 | 2 | 3 | 4;

export interface Estimate {
  score: Score;
  warning: string | null;
  suggestions: string[];
}

export interface Strength {
  length: number;
  tooShort: boolean;
  tooLong: boolean;
  /** null while the estimator (loaded lazily) is not ready yet. */
  estimate: Estimate | null;
  acceptable: boolean;
}

export const SCORE_LABELS: Record<Score, string> = {
  0: 'Very weak',
  1: 'Weak',
  2: 'Fair',
  3: 'Strong',
  4: 'Very strong',
};

export function charCount(password: string): number {
  return [...password].length;
}

/** The user inputs the server counts against strength: email, its local part and the name. */
export function userInputsFor(email: string, name: string): string[] {
  const normalised = email.trim().toLowerCase();
  const at = normalised.lastIndexOf('@');
  const local = at >= 0 ? normalised.slice(0, at) : '';
  return [normalised, local, name.trim()].filter((input) => input.length > 0);
}

export function assess(password: string, estimate: Estimate | null): Strength {
  const length = charCount(password);
  const tooShort = length < PASSWORD_MIN_CHARS;
  const tooLong = length > PASSWORD_MAX_CHARS;
  return {
    length,
    tooShort,
    tooLong,
    estimate,
    acceptable: !tooShort && !tooLong && estimate !== null && estimate.score >= REQUIRED_SCORE,
  };
}

/** The error a new-password field shows when the estimate refuses the password on submit. */
export const WEAK_PASSWORD_ERROR = 'Choose a stronger password: see the advice below the field.';

/**
 * The new-password field's error after an edit: an error about the value as it was (too weak, or
 * the server's verdict on it) no longer applies once the value changed, and a "too weak" error
 * never stands beside a meter that now calls the password strong enough.
 */
export function passwordErrorAfterEdit(
  error: string | null | undefined,
  edited: boolean,
  strength: Strength | null,
): string | null {
  if (!error) return null;
  if (edited) return null;
  if (error === WEAK_PASSWORD_ERROR && strength?.acceptable) return null;
  return error;
}
