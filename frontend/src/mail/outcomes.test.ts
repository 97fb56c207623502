import { describe, expect, it } from 'vitest';
import { ApiError } from '../api';
import type { Problem } from '../api/types';
import { assess, WEAK_PASSWORD_ERROR } from '../password/policy';
import {
  changeEmailFailure,
  forgotFailure,
  newPasswordErrors,
  REAUTH_MESSAGE,
  resendFailure,
  tokenFailure,
} from './outcomes';

const problem = (status: number, code: string, detail?: string, retryAfter?: number) =>
  new ApiError(
    status,
    { type: 'about:blank', title: code, status, code: code as Problem['code'], ...(detail ? { detail } : {}) },
    retryAfter,
  );

describe('forgot password', () => {
  it('marks the address when the server refuses its shape', () => {
    expect(forgotFailure(problem(422, 'validation_failed', 'email: not an address'))).toEqual({
      field: 'email',
      message: 'Enter a valid email address.',
    });
  });

  it('says how long to wait when rate limited', () => {
    expect(forgotFailure(problem(429, 'rate_limited', undefined, 42))).toEqual({
      field: null,
      message: 'Too many attempts. Try again in 42 seconds.',
    });
  });

  it('reports the network as the network', () => {
    expect(forgotFailure(new ApiError(0, undefined)).message).toMatch(/Cannot reach the server/);
  });
});

describe('the pages that POST a mail token', () => {
  it('one state for a dead link, whatever killed it', () => {
    expect(tokenFailure(problem(400, 'token_invalid'))).toEqual({ kind: 'invalid' });
    expect(tokenFailure(problem(400, 'validation_failed', 'token: must be base64url'))).toEqual({ kind: 'invalid' });
  });

  it('keeps the refused new password for its field', () => {
    expect(tokenFailure(problem(422, 'validation_failed', 'new_password: too easy to guess'))).toEqual({
      kind: 'password',
      message: 'new_password: too easy to guess',
    });
  });

  it('tells a taken address apart (confirming a new address)', () => {
    expect(tokenFailure(problem(409, 'email_taken'))).toEqual({ kind: 'taken' });
  });

  it('tells an address verified already apart (verifying twice)', () => {
    expect(tokenFailure(problem(409, 'email_already_verified'))).toEqual({ kind: 'already_verified' });
  });

  it('lets the user try again after anything else: the token may still be good', () => {
    expect(tokenFailure(problem(429, 'rate_limited', undefined, 3))).toEqual({
      kind: 'error',
      message: 'Too many attempts. Try again in 3 seconds.',
    });
    expect(tokenFailure(new ApiError(0, undefined)).kind).toBe('error');
    expect(tokenFailure(problem(500, 'internal_error')).kind).toBe('error');
    expect(tokenFailure(new Error('boom')).kind).toBe('error');
  });
});

describe('re-sending the verification mail', () => {
  it('hides the banner when the address is verified already', () => {
    expect(resendFailure(problem(409, 'email_already_verified'))).toEqual({ kind: 'verified' });
    expect(resendFailure(new ApiError(409, undefined))).toEqual({ kind: 'verified' });
  });

  it('asks to wait, with the time when the server gave one', () => {
    expect(resendFailure(problem(429, 'rate_limited', undefined, 1))).toEqual({
      kind: 'error',
      message: 'A verification mail was sent a moment ago. You can ask for another in 1 second.',
    });
    expect(resendFailure(problem(429, 'rate_limited'))).toEqual({
      kind: 'error',
      message: 'A verification mail was sent a moment ago. Please wait a minute before asking for another.',
    });
  });
});

describe('changing the address', () => {
  it('puts a wrong current password under that field', () => {
    const expected = { field: 'current_password', message: 'The current password is not correct.' };
    expect(changeEmailFailure(problem(422, 'validation_failed', 'current_password: does not match'))).toEqual(expected);
    expect(changeEmailFailure(problem(401, 'invalid_credentials'))).toEqual(expected);
  });

  it('puts a taken or malformed new address under the address', () => {
    expect(changeEmailFailure(problem(409, 'email_taken'))).toEqual({
      field: 'new_email',
      message: 'Another account already uses this address.',
    });
    expect(changeEmailFailure(problem(422, 'validation_failed', 'new_email: not an address'))).toEqual({
      field: 'new_email',
      message: 'new_email: not an address',
    });
  });

  it('marks the password when its step-up proof was refused', () => {
    expect(changeEmailFailure(problem(403, 'reauth_required'))).toEqual({
      field: 'current_password',
      message: REAUTH_MESSAGE,
    });
  });

  it('explains other failures for the whole form', () => {
    expect(changeEmailFailure(problem(403, 'csrf_failed'))).toEqual({
      field: null,
      message: 'The request was refused as a possible cross-site request. Reload the page and try again.',
    });
  });
});

describe('the reset form before it spends the link', () => {
  const password = 'velvet orbit canyon pickle 42';
  const strong = assess(password, { score: 4, warning: null, suggestions: [] });
  const weak = assess('password1234', { score: 0, warning: 'This is a top-10 common password.', suggestions: [] });

  it('sends a strong password typed twice', () => {
    expect(newPasswordErrors(strong, password, password)).toEqual({});
  });

  it('refuses what the meter refuses, and a confirmation that differs', () => {
    expect(newPasswordErrors(weak, 'password1234', 'password1234')).toEqual({ next: WEAK_PASSWORD_ERROR });
    expect(newPasswordErrors(strong, password, `${password}!`)).toEqual({
      confirm: 'The two passwords do not match.',
    });
  });

  it('leaves the verdict to the server while the estimator is still loading', () => {
    expect(newPasswordErrors(assess('password1234', null), 'password1234', 'password1234')).toEqual({});
  });
});
