// What each mail page shows when its request fails: the server's answer (DESIGN.md part 2,
// "Endpoints") turned into a page state. Pure, so every answer of the contract is unit-tested
// without a browser (outcomes.test.ts); the pages only render these.

import { ApiError, describeError, type ProblemCode } from '../api';
import { WEAK_PASSWORD_ERROR, type Strength } from '../password/policy';

/** One sentence per link page: a token that is unknown, expired, used or for another purpose. */
export const TOKEN_INVALID_MESSAGE = 'This link is invalid or has expired.';

/** After a correct password when the server requires a verified address first. */
export const EMAIL_UNVERIFIED_MESSAGE = 'Check your mail to verify your address, then log in.';

type ExpectedCode = ProblemCode;

const isCode = (err: unknown, code: ExpectedCode): err is ApiError =>
  err instanceof ApiError && (err.code as ExpectedCode) === code;

/** The address the server would not accept, or a message for the whole form. */
export type ForgotFailure = { field: 'email'; message: string } | { field: null; message: string };

/**
 * POST /api/auth/password/forgot answers 202 whether the account exists, so the only failures are
 * the request itself: a malformed address (422/400), the per-IP limit (429 with its wait), the
 * network or the server.
 */
export function forgotFailure(err: unknown): ForgotFailure {
  if (isCode(err, 'validation_failed')) return { field: 'email', message: 'Enter a valid email address.' };
  return { field: null, message: describeError(err) };
}

/** The three links that POST their token: reset password, verify address, confirm a new address. */
export type TokenFailure =
  /** The link is dead: offer a new one. */
  | { kind: 'invalid' }
  /** Confirm only: someone took the new address after the change was asked for. */
  | { kind: 'taken' }
  /** Verify only: the address was verified already (an earlier link, another browser). */
  | { kind: 'already_verified' }
  /** Reset only: the server refused the new password (policy); shown under the field. */
  | { kind: 'password'; message: string }
  /** Anything else (network, rate limit, server): the token may still be good, so try again. */
  | { kind: 'error'; message: string };

export function tokenFailure(err: unknown): TokenFailure {
  if (isCode(err, 'token_invalid')) return { kind: 'invalid' };
  // A token the server could not even parse is as dead as an unknown one.
  if (isCode(err, 'validation_failed') && /\btoken\b/i.test(err.message)) return { kind: 'invalid' };
  if (isCode(err, 'email_taken')) return { kind: 'taken' };
  if (isCode(err, 'email_already_verified')) return { kind: 'already_verified' };
  // A well-formed request that breaks a rule: on reset that is the new password (the policy).
  if (isCode(err, 'validation_failed') && err.status === 422) return { kind: 'password', message: err.message };
  return { kind: 'error', message: describeError(err) };
}

/** Re-sending the verification mail from the banner. */
export type ResendOutcome =
  | { kind: 'sent' }
  /** 409: the address is verified already (perhaps in another browser): the banner goes. */
  | { kind: 'verified' }
  | { kind: 'error'; message: string };

export function resendFailure(err: unknown): ResendOutcome {
  if (isCode(err, 'email_already_verified') || (err instanceof ApiError && err.status === 409)) {
    return { kind: 'verified' };
  }
  if (isCode(err, 'rate_limited')) {
    return {
      kind: 'error',
      message: err.retryAfter
        ? `A verification mail was sent a moment ago. You can ask for another in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`
        : 'A verification mail was sent a moment ago. Please wait a minute before asking for another.',
    };
  }
  return { kind: 'error', message: describeError(err) };
}

/** The change-email form: a field to mark, or a message for the whole form. */
export type ChangeEmailFailure =
  | { field: 'current_password' | 'new_email'; message: string }
  | { field: null; message: string };

/** The form proves its password at POST /api/auth/reauth first, so a `reauth_required` left over
 * means that password was refused there. */
export const REAUTH_MESSAGE = 'The current password is not correct.';

export function changeEmailFailure(err: unknown): ChangeEmailFailure {
  if (isCode(err, 'reauth_required')) return { field: 'current_password', message: REAUTH_MESSAGE };
  if (isCode(err, 'email_taken')) {
    return { field: 'new_email', message: 'Another account already uses this address.' };
  }
  if (isCode(err, 'invalid_credentials') || (isCode(err, 'validation_failed') && /current_password/.test(err.message))) {
    return { field: 'current_password', message: 'The current password is not correct.' };
  }
  if (isCode(err, 'validation_failed')) return { field: 'new_email', message: err.message };
  return { field: null, message: describeError(err) };
}

/**
 * The reset form's own checks before it spends the link: a password the meter refuses (once
 * its estimator has loaded; before that the server decides) and a confirmation that differs.
 */
export function newPasswordErrors(
  strength: Strength | null,
  next: string,
  confirm: string,
): { next?: string; confirm?: string } {
  const errors: { next?: string; confirm?: string } = {};
  if (strength && strength.estimate && !strength.acceptable) errors.next = WEAK_PASSWORD_ERROR;
  if (confirm !== next) errors.confirm = 'The two passwords do not match.';
  return errors;
}
