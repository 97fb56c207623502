import { useState, type FormEvent } from 'react';
import { ApiError, api, describeError, unwrap, type Ok } from '../api';
import { reauthMethods, withReauth, type ConfirmReauth } from '../api/reauth';
import { normaliseTotp } from '../auth/mfa';
import { ErrorMessage, Notice, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { groupKey, svgDataUrl } from '../security/factors';
import { RecoveryCodesView } from './RecoveryCodesView';

type MfaStatus = Ok<'/api/me/mfa'>;
type Enrolment = Ok<'/api/me/mfa/totp', 'post'>;

/** Few enough codes left that the user should make new ones. */
const LOW_CODES = 3;

/** A refusal to show, or nothing when the user cancelled the re-authentication. */
function refusalText(err: unknown): string | null {
  return reauthMethods(err) ? null : describeError(err);
}

/**
 * The authenticator app (TOTP): set up (QR code and manual key, confirmed with a first code,
 * then the recovery codes shown once), turn off, new recovery codes, how many are left.
 */
export function TotpSection({
  status,
  confirm,
  onChanged,
}: {
  status: MfaStatus;
  confirm: ConfirmReauth;
  onChanged: () => void;
}) {
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState('');
  const [codeError, setCodeError] = useState<string | undefined>(undefined);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [confirmOff, setConfirmOff] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const run = async (key: string, action: () => Promise<void>) => {
    setBusy(key);
    setError(null);
    setDone(null);
    try {
      await action();
    } catch (err) {
      setError(refusalText(err));
    } finally {
      setBusy(null);
    }
  };

  const start = () =>
    run('start', async () => {
      const started = await withReauth(() => unwrap(api.POST('/api/me/mfa/totp')), confirm);
      setEnrolment(started);
      setCode('');
      setCodeError(undefined);
    });

  const onConfirm = async (event: FormEvent) => {
    event.preventDefault();
    setBusy('confirm');
    setError(null);
    setCodeError(undefined);
    try {
      const { recovery_codes } = await unwrap(api.POST('/api/me/mfa/totp/confirm', { body: { code: normaliseTotp(code) } }));
      setEnrolment(null);
      setCodes(recovery_codes);
      setDone('Two-step verification is on. From now on, signing in asks for a code from your app.');
      onChanged();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'validation_failed') {
        setCodeError('That code is not correct. Check that your device’s clock is right and enter the current code.');
      } else {
        setError(describeError(err));
      }
    } finally {
      setBusy(null);
    }
  };

  const turnOff = () =>
    run('off', async () => {
      await withReauth(() => unwrap(api.DELETE('/api/me/mfa/totp')), confirm);
      setConfirmOff(false);
      setCodes(null);
      setDone('The authenticator app is turned off and its recovery codes no longer work.');
      onChanged();
    });

  const regenerate = () =>
    run('codes', async () => {
      const { recovery_codes } = await withReauth(() => unwrap(api.POST('/api/me/mfa/recovery-codes')), confirm);
      setCodes(recovery_codes);
      setDone('New recovery codes are ready. The old ones no longer work.');
      onChanged();
    });

  return (
    <section className="card" aria-labelledby="totp-title">
      <h2 id="totp-title">
        Authenticator app{' '}
        {status.totp ? <span className="badge badge-active">On</span> : <span className="badge">Off</span>}
      </h2>
      <p>
        A second step at sign-in: a 6-digit code from an app such as 1Password, Google Authenticator or Aegis, so a
        stolen password alone cannot open your account.
      </p>
      <ErrorMessage>{error}</ErrorMessage>
      <StatusMessage>{done}</StatusMessage>

      {codes ? <RecoveryCodesView codes={codes} onDone={() => setCodes(null)} /> : null}

      {enrolment ? (
        <form className="form totp-enrolment" onSubmit={onConfirm} aria-labelledby="totp-setup-title">
          <h3 id="totp-setup-title">Scan this code with your app</h3>
          <img className="qr" src={svgDataUrl(enrolment.qr_svg)} alt="QR code to add Tessera to your authenticator app" width={200} height={200} />
          <p>
            Or enter this key by hand (time-based, 6 digits):{' '}
            <code className="secret-key" data-testid="totp-secret">
              {groupKey(enrolment.secret)}
            </code>
          </p>
          <p className="hint">
            On this device? <a href={enrolment.otpauth_uri}>Open it in your authenticator app</a>.
          </p>
          <Field
            label="Code from the app"
            name="totp-confirm-code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9 ]*"
            maxLength={8}
            required
            value={code}
            onChange={(e) => {
              setCode(e.target.value);
              setCodeError(undefined);
            }}
            error={codeError}
          />
          <div className="form-actions">
            <Button type="submit" busy={busy === 'confirm'} busyLabel="Checking…">
              Turn on
            </Button>
            <Button variant="secondary" disabled={busy === 'confirm'} onClick={() => setEnrolment(null)}>
              Cancel
            </Button>
          </div>
        </form>
      ) : status.totp ? (
        <>
          <p data-testid="recovery-codes-left">
            Recovery codes left: <strong>{status.recovery_codes_left}</strong>
          </p>
          {status.recovery_codes_left <= LOW_CODES && !codes ? (
            <Notice tone="warning">
              {status.recovery_codes_left === 0
                ? 'You have no recovery codes left. Generate new ones so you can still sign in if you lose your device.'
                : 'You are running out of recovery codes. Generate new ones.'}
            </Notice>
          ) : null}
          <div className="form-actions">
            <Button variant="secondary" busy={busy === 'codes'} busyLabel="Generating…" onClick={() => void regenerate()}>
              Generate new recovery codes
            </Button>
            {confirmOff ? (
              <span role="group" aria-label="Confirm turning off the authenticator app" className="inline-confirm">
                <Button variant="danger" busy={busy === 'off'} busyLabel="Turning off…" onClick={() => void turnOff()}>
                  Yes, turn it off
                </Button>
                <Button variant="secondary" disabled={busy === 'off'} onClick={() => setConfirmOff(false)}>
                  Cancel
                </Button>
              </span>
            ) : (
              <Button variant="danger" onClick={() => setConfirmOff(true)}>
                Turn off…
              </Button>
            )}
          </div>
        </>
      ) : (
        <div className="form-actions">
          <Button busy={busy === 'start'} busyLabel="Preparing…" onClick={() => void start()}>
            Set up an authenticator app
          </Button>
        </div>
      )}
    </section>
  );
}
