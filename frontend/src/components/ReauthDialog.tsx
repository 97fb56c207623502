import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { offerableMethods, type ConfirmReauth, type ReauthAnswer, type ReauthMethod } from '../api/reauth';
import { ErrorMessage } from './Alert';
import { Button } from './Button';
import { Field } from './Field';
import { PasswordField } from './PasswordField';

interface Pending {
  methods: ReauthMethod[];
  error: string | null;
  resolve: (answer: ReauthAnswer | null) => void;
}

const METHOD_LABELS: Record<ReauthMethod, string> = {
  password: 'Password',
  totp: 'Authenticator app',
  passkey: 'Passkey',
};

/**
 * The "confirm it's you" dialog of a sensitive action (see `withReauth`): `confirm` opens it with
 * the methods the server named (those this browser can use) and resolves with the user's answer
 * (null when they cancel); `prompt` is the dialog to render, outside the action's own form.
 */
export function useReauthDialog(): { confirm: ConfirmReauth; prompt: ReactNode } {
  const [pending, setPending] = useState<Pending | null>(null);
  const [method, setMethod] = useState<ReauthMethod>('password');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const pendingRef = useRef<Pending | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);

  const confirm = useCallback<ConfirmReauth>(
    (methods, error) =>
      new Promise<ReauthAnswer | null>((resolve) => {
        const offered = offerableMethods(methods);
        const next = { methods: offered, error, resolve };
        pendingRef.current = next;
        // After a refusal the same method is offered again; a first prompt starts with the first.
        setMethod((current) => (error !== null && offered.includes(current) ? current : (offered[0] ?? 'password')));
        setPending(next);
      }),
    [],
  );

  const finish = useCallback((answer: ReauthAnswer | null) => {
    const current = pendingRef.current;
    pendingRef.current = null;
    setPending(null);
    setPassword('');
    setCode('');
    current?.resolve(answer);
  }, []);

  useEffect(() => {
    const element = dialog.current;
    if (pending && element && !element.open) element.showModal?.();
  }, [pending]);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (method === 'password') finish({ method, password });
    else if (method === 'totp') finish({ method, code });
    else finish({ method });
  };

  const prompt = pending ? (
    <dialog
      ref={dialog}
      className="card reauth-dialog"
      aria-labelledby="reauth-title"
      // Escape closes a modal dialog: that is a cancel.
      onCancel={(event) => {
        event.preventDefault();
        finish(null);
      }}
    >
      <form className="form" onSubmit={onSubmit}>
        <h2 id="reauth-title">Confirm it’s you</h2>
        <p>For your security, this change needs you to sign in again.</p>
        <ErrorMessage>{pending.error}</ErrorMessage>
        {pending.methods.length > 1 ? (
          <div className="method-switch" role="group" aria-label="How to confirm">
            {pending.methods.map((m) => (
              <Button
                key={m}
                variant={m === method ? 'primary' : 'secondary'}
                aria-pressed={m === method}
                onClick={() => setMethod(m)}
              >
                {METHOD_LABELS[m]}
              </Button>
            ))}
          </div>
        ) : null}
        {method === 'password' ? (
          <PasswordField
            label="Your password"
            autoComplete="current-password"
            name="confirm-current-password"
            value={password}
            onChange={setPassword}
          />
        ) : method === 'totp' ? (
          <Field
            label="Code from your authenticator app"
            name="reauth-totp-code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9 ]*"
            maxLength={8}
            required
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        ) : (
          <p>Your browser will ask for one of your passkeys.</p>
        )}
        <div className="form-actions">
          <Button type="submit">{method === 'passkey' ? 'Use a passkey' : 'Confirm'}</Button>
          <Button variant="secondary" onClick={() => finish(null)}>
            Cancel
          </Button>
        </div>
      </form>
    </dialog>
  ) : null;

  return { confirm, prompt };
}
