import { useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../api';
import { completeMfa, mfaRefusal, type MfaChallenge, type MfaMethod, type MfaProof } from '../auth/mfa';
import { ErrorMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { explainError } from '../components/ErrorText';
import { Field } from '../components/Field';
import { Page } from '../components/Page';
import { webauthnAvailable } from '../webauthn/passkeys';

const LABELS: Record<MfaMethod, string> = {
  totp: 'Authenticator app',
  passkey: 'Passkey',
  recovery_code: 'Recovery code',
};

/** The methods to offer, in this order: a passkey only where the browser has WebAuthn. */
function offered(methods: MfaMethod[]): MfaMethod[] {
  const order: MfaMethod[] = ['totp', 'passkey', 'recovery_code'];
  return order.filter((m) => methods.includes(m) && (m !== 'passkey' || webauthnAvailable()));
}

/**
 * The second step of a login that answered 202 `mfa_required`: a code from the authenticator
 * app, a passkey, or a recovery code. `onRestart` goes back to the password step with a message
 * (the challenge expired or had too many wrong codes).
 */
export function MfaChallengeStep({
  challenge,
  onSignedIn,
  onRestart,
}: {
  challenge: MfaChallenge;
  onSignedIn: () => Promise<void>;
  onRestart: (message: string | null) => void;
}) {
  const methods = offered(challenge.methods);
  const [method, setMethod] = useState<MfaMethod>(methods[0] ?? 'recovery_code');
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState('');
  const [failures, setFailures] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReactNode>(null);

  const prove = async (proof: MfaProof) => {
    setBusy(true);
    setError(null);
    try {
      await completeMfa(api, challenge, proof);
      await onSignedIn();
    } catch (err) {
      const refusal = mfaRefusal(err, proof, challenge, failures);
      if (refusal?.kind === 'restart') {
        onRestart(refusal.message);
        return;
      }
      if (refusal?.counted) {
        setFailures((n) => n + 1);
        setCode('');
        setRecovery('');
      }
      setError(refusal ? refusal.message : explainError(err));
      setBusy(false);
    }
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (method === 'totp') void prove({ method, code });
    else if (method === 'recovery_code') void prove({ method, code: recovery });
    else void prove({ method });
  };

  return (
    <Page title="Two-step verification" intro="Your password was right. Now confirm it’s you with your second factor.">
      <form className="card form" onSubmit={onSubmit} aria-label="Second factor">
        <ErrorMessage>{error}</ErrorMessage>
        {methods.length > 1 ? (
          <div className="method-switch" role="group" aria-label="Choose a method">
            {methods.map((m) => (
              <Button
                key={m}
                variant={m === method ? 'primary' : 'secondary'}
                aria-pressed={m === method}
                onClick={() => {
                  setMethod(m);
                  setError(null);
                }}
              >
                {LABELS[m]}
              </Button>
            ))}
          </div>
        ) : null}
        {method === 'totp' ? (
          <Field
            label="6-digit code"
            name="totp-code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9 ]*"
            maxLength={8}
            required
            // The step is shown because the user just typed their password: carry on typing.
            autoFocus
            hint="Open your authenticator app and enter the code it shows for Tessera."
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        ) : method === 'recovery_code' ? (
          <Field
            label="Recovery code"
            name="recovery-code"
            autoComplete="off"
            spellCheck={false}
            required
            maxLength={64}
            hint="One of the codes you saved when you set up two-step verification. Each works once."
            value={recovery}
            onChange={(e) => setRecovery(e.target.value)}
          />
        ) : (
          <p>Your browser will ask for one of your passkeys.</p>
        )}
        <div className="form-actions">
          <Button type="submit" busy={busy} busyLabel="Checking…">
            {method === 'passkey' ? 'Use a passkey' : 'Verify'}
          </Button>
          <Button variant="secondary" disabled={busy} onClick={() => onRestart(null)}>
            Start over
          </Button>
        </div>
      </form>
    </Page>
  );
}
