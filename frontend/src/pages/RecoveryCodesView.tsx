import { useState } from 'react';
import { useMe } from '../auth/AuthContext';
import { StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { saveFile } from '../download';
import { recoveryCodesFileName, recoveryCodesText } from '../security/factors';

/**
 * A fresh set of recovery codes, shown this once (the server keeps only their hashes): copy,
 * download as .txt, then "I have saved them" hides them for good.
 */
export function RecoveryCodesView({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const me = useMe();
  const [issued] = useState(() => new Date());
  const [status, setStatus] = useState<string | null>(null);
  const text = () => recoveryCodesText(codes, me.email, globalThis.location.origin, issued);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text());
      setStatus('Copied the codes to the clipboard.');
    } catch {
      setStatus('Could not copy: select the codes and copy them, or download them.');
    }
  };

  const download = () => {
    const name = recoveryCodesFileName(issued);
    saveFile(new Blob([text()], { type: 'text/plain;charset=utf-8' }), name);
    setStatus(`Saved ${name}.`);
  };

  return (
    <section className="recovery-codes" aria-labelledby="recovery-codes-title">
      <h3 id="recovery-codes-title">Your recovery codes</h3>
      <p>
        Save these codes somewhere safe, apart from your phone. Each one signs you in once if you lose your
        authenticator app or passkeys. <strong>They are shown only now.</strong>
      </p>
      <ol className="code-list" data-testid="recovery-codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      <StatusMessage>{status}</StatusMessage>
      <div className="form-actions">
        <Button variant="secondary" onClick={() => void copy()}>
          Copy
        </Button>
        <Button variant="secondary" onClick={download}>
          Download (.txt)
        </Button>
        <Button onClick={onDone}>I have saved my codes</Button>
      </div>
    </section>
  );
}
