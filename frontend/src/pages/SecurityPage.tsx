import { useCallback, useEffect, useState } from 'react';
import { api, describeError, unwrap, type Ok } from '../api';
import { ErrorMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Page } from '../components/Page';
import { useReauthDialog } from '../components/ReauthDialog';
import { Loading } from '../components/Spinner';
import { PasskeysSection } from './PasskeysSection';
import { TotpSection } from './TotpSection';

type MfaStatus = Ok<'/api/me/mfa'>;

/** Second factors and passkeys. Changes that weaken the account ask to re-authenticate first. */
export function SecurityPage() {
  const [status, setStatus] = useState<MfaStatus | null>(null);
  const [error, setError] = useState<unknown>(null);
  const { confirm, prompt } = useReauthDialog();

  const reload = useCallback(async () => {
    try {
      setStatus(await unwrap(api.GET('/api/me/mfa')));
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  return (
    <Page title="Security" intro="How you sign in: a second step after your password, and passkeys.">
      {prompt}
      {error ? (
        <>
          <ErrorMessage>{describeError(error)}</ErrorMessage>
          <Button variant="secondary" onClick={() => void reload()}>
            Try again
          </Button>
        </>
      ) : null}
      {status ? (
        <TotpSection status={status} confirm={confirm} onChanged={() => void reload()} />
      ) : error ? null : (
        <Loading label="Loading your sign-in methods…" />
      )}
      <PasskeysSection confirm={confirm} onChanged={() => void reload()} />
    </Page>
  );
}
