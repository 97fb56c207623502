import { useCallback, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { ConfirmPassword } from '../api/reauth';
import { ErrorMessage } from './Alert';
import { Button } from './Button';
import { PasswordField } from './PasswordField';

interface Pending {
  error: string | null;
  resolve: (password: string | null) => void;
}

/**
 * The inline "confirm your password" step of a sensitive action (see `withReauth`): `confirm`
 * shows the form and resolves with what the user entered (null when they cancel); `prompt` is
 * the form to render, outside the action's own form.
 */
export function useConfirmPassword(): { confirm: ConfirmPassword; prompt: ReactNode } {
  const [pending, setPending] = useState<Pending | null>(null);
  const [password, setPassword] = useState('');
  const pendingRef = useRef<Pending | null>(null);

  const confirm = useCallback<ConfirmPassword>(
    (_methods, error) =>
      new Promise<string | null>((resolve) => {
        const next = { error, resolve };
        pendingRef.current = next;
        setPending(next);
      }),
    [],
  );

  const finish = (answer: string | null) => {
    const current = pendingRef.current;
    pendingRef.current = null;
    setPending(null);
    setPassword('');
    current?.resolve(answer);
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    finish(password);
  };

  const prompt = pending ? (
    <form className="card form" onSubmit={onSubmit} aria-labelledby="confirm-password-title">
      <h2 id="confirm-password-title">Confirm your password</h2>
      <p>For your security, this change needs your password again.</p>
      <ErrorMessage>{pending.error}</ErrorMessage>
      <PasswordField
        label="Your password"
        autoComplete="current-password"
        name="confirm-current-password"
        value={password}
        onChange={setPassword}
      />
      <div className="form-actions">
        <Button type="submit">Confirm</Button>
        <Button variant="secondary" onClick={() => finish(null)}>
          Cancel
        </Button>
      </div>
    </form>
  ) : null;

  return { confirm, prompt };
}
