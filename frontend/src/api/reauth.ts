// Step-up re-authentication: a sensitive request answered 403 `reauth_required` is retried once
// the user has confirmed their password at POST /api/auth/reauth (which re-issues the access
// cookie with a fresh `auth_time`).

import { ApiError, api, unwrap } from './index';

/** The methods a `reauth_required` problem names, or null when `err` is not one. */
export function reauthMethods(err: unknown): string[] | null {
  if (!(err instanceof ApiError) || err.code !== 'reauth_required') return null;
  return err.problem?.methods ?? ['password'];
}

/**
 * Asks the user to confirm their password: resolves to it, or to null when they cancel. `error`
 * says why the previous answer was refused (a wrong password, too many attempts).
 */
export type ConfirmPassword = (methods: string[], error: string | null) => Promise<string | null>;

/** POST /api/auth/reauth with a password. */
export async function reauthenticate(password: string): Promise<void> {
  await unwrap(api.POST('/api/auth/reauth', { body: { password } }));
}

/**
 * Runs `action`; when the server answers `reauth_required`, asks `confirm` for the password,
 * proves it (`prove`, POST /api/auth/reauth by default) and runs `action` once more. A wrong
 * password asks again; a cancel, or a refusal other than a wrong password, throws (the cancel
 * throws the original `reauth_required`).
 */
export async function withReauth<T>(
  action: () => Promise<T>,
  confirm: ConfirmPassword,
  prove: (password: string) => Promise<void> = reauthenticate,
): Promise<T> {
  try {
    return await action();
  } catch (err) {
    const methods = reauthMethods(err);
    if (!methods) throw err;
    let error: string | null = null;
    for (;;) {
      const password = await confirm(methods, error);
      if (password === null) throw err;
      try {
        await prove(password);
        break;
      } catch (refusal) {
        if (!(refusal instanceof ApiError) || refusal.code !== 'invalid_credentials') throw refusal;
        error = 'The password is not correct.';
      }
    }
    return await action();
  }
}

/**
 * For a form that already asks for the current password (email change, account deletion): a
 * `reauth_required` answer is met by proving that same password at POST /api/auth/reauth and
 * retrying, without asking again. A wrong password is not retried: the `reauth_required` is
 * thrown, for the form to show under its password field.
 */
export function withPasswordReauth<T>(
  action: () => Promise<T>,
  password: string,
  prove: (password: string) => Promise<void> = reauthenticate,
): Promise<T> {
  return withReauth(action, async (_methods, error) => (error === null ? password : null), prove);
}
