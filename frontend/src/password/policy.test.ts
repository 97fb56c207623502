import { describe, expect, it } from 'vitest';
import { loadEstimator } from './estimator';
import { assess, charCount, passwordErrorAfterEdit, userInputsFor, WEAK_PASSWORD_ERROR, type Strength } from './policy';

describe('password policy (mirrors crates/auth-core check_policy)', () => {
  it('counts code points like Rust chars()', () => {
    expect(charCount('é'.repeat(11))).toBe(11);
    expect(charCount('😀'.repeat(12))).toBe(12);
  });

  it('uses the normalised email, its local part and the name as user inputs', () => {
    expect(userInputsFor('  Ada.L@Example.COM ', ' Ada ')).toEqual(['ada.l@example.com', 'ada.l', 'Ada']);
    expect(userInputsFor('', '')).toEqual([]);
  });

  it('refuses short, long and weak passwords; accepts strong ones', async () => {
    const estimate = await loadEstimator();
    const check = (pw: string, inputs: string[] = []) => assess(pw, estimate(pw, inputs));
    expect(check('elevenchars').tooShort).toBe(true);
    expect(check('x'.repeat(257)).tooLong).toBe(true);
    expect(check('password1234').acceptable).toBe(false);
    expect(check('qwertyuiop12').acceptable).toBe(false);
    expect(check('velvet orbit canyon pickle 42').acceptable).toBe(true);
    // The user's own details count against them.
    const mine = 'ada.lovelace.example';
    expect(check(mine, userInputsFor('ada.lovelace.example@example.com', 'Ada')).acceptable).toBe(false);
  });

  it('is not acceptable until the estimator has run', () => {
    expect(assess('velvet orbit canyon pickle 42', null).acceptable).toBe(false);
  });
});

describe('the new-password field error after an edit', () => {
  const strong: Strength = { ...assess('velvet orbit canyon pickle 42', null), acceptable: true };
  const weak: Strength = { ...strong, acceptable: false };

  it('drops "choose a stronger password" once the meter calls the password acceptable', () => {
    expect(passwordErrorAfterEdit(WEAK_PASSWORD_ERROR, false, strong)).toBeNull();
    expect(passwordErrorAfterEdit(WEAK_PASSWORD_ERROR, false, weak)).toBe(WEAK_PASSWORD_ERROR);
    expect(passwordErrorAfterEdit(WEAK_PASSWORD_ERROR, false, null)).toBe(WEAK_PASSWORD_ERROR);
  });

  it('drops any error about the old value when the value is edited', () => {
    expect(passwordErrorAfterEdit('password: too common', true, weak)).toBeNull();
    expect(passwordErrorAfterEdit(WEAK_PASSWORD_ERROR, true, weak)).toBeNull();
  });

  it('keeps a server verdict while the value is unchanged, even when the meter is happy', () => {
    expect(passwordErrorAfterEdit('password: must not contain your email', false, strong)).toBe(
      'password: must not contain your email',
    );
    expect(passwordErrorAfterEdit(null, false, strong)).toBeNull();
  });
});
