import { describe, expect, it } from 'vitest';
import { loadEstimator } from './estimator';
import { assess, charCount, userInputsFor } from './policy';

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
