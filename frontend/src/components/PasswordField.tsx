import { useEffect, useMemo, useState } from 'react';
import { loadEstimator, type Estimator } from '../password/estimator';
import {
  assess,
  PASSWORD_MAX_CHARS,
  PASSWORD_MIN_CHARS,
  SCORE_LABELS,
  type Strength,
} from '../password/policy';
import { Field } from './Field';

interface Props {
  label: string;
  value: string;
  onChange: (value: string) => void;
  autoComplete: 'current-password' | 'new-password';
  name?: string;
  error?: string | null | undefined;
  /** Show the strength meter (new passwords): pass the user inputs the server will use. */
  strengthInputs?: string[];
  onStrength?: (strength: Strength) => void;
  required?: boolean;
}

/** The lazily loaded estimator: null until its dictionaries arrive. */
function useEstimator(enabled: boolean): Estimator | null {
  const [estimator, setEstimator] = useState<Estimator | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    loadEstimator()
      .then((loaded) => {
        if (live) setEstimator(() => loaded);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [enabled]);
  return estimator;
}

export function PasswordField({
  label,
  value,
  onChange,
  autoComplete,
  name,
  error,
  strengthInputs,
  onStrength,
  required = true,
}: Props) {
  const [visible, setVisible] = useState(false);
  const withMeter = strengthInputs !== undefined;
  const estimator = useEstimator(withMeter);
  const inputsKey = strengthInputs?.join('\u0000') ?? '';
  const strength = useMemo(() => {
    if (!withMeter) return null;
    const inputs = inputsKey ? inputsKey.split('\u0000') : [];
    return assess(value, value && estimator ? estimator(value, inputs) : null);
  }, [withMeter, value, estimator, inputsKey]);

  useEffect(() => {
    if (strength) onStrength?.(strength);
  }, [strength, onStrength]);

  return (
    <Field
      label={label}
      type={visible ? 'text' : 'password'}
      value={value}
      onChange={(event) => onChange(event.target.value)}
      autoComplete={autoComplete}
      name={name ?? autoComplete}
      required={required}
      spellCheck={false}
      autoCapitalize="off"
      error={error}
      hint={withMeter ? `${PASSWORD_MIN_CHARS} to ${PASSWORD_MAX_CHARS} characters. A few unrelated words make a strong, memorable password.` : undefined}
      addon={
        <button
          type="button"
          className="btn btn-secondary btn-toggle"
          aria-pressed={visible}
          onClick={() => setVisible((v) => !v)}
        >
          {visible ? 'Hide' : 'Show'}
          <span className="visually-hidden"> password</span>
        </button>
      }
      {...(strength ? { below: (id: string) => <StrengthMeter id={id} strength={strength} loading={!estimator} /> } : {})}
    />
  );
}

function StrengthMeter({ id, strength, loading }: { id: string; strength: Strength; loading: boolean }) {
  const { length, tooShort, tooLong, estimate, acceptable } = strength;
  const score = length === 0 ? null : estimate?.score ?? null;
  let summary: string;
  if (length === 0) summary = 'Enter a password to see its strength.';
  else if (loading || !estimate) summary = 'Checking strength…';
  else if (tooShort) summary = `Too short: ${length} of at least ${PASSWORD_MIN_CHARS} characters.`;
  else if (tooLong) summary = `Too long: ${length} characters, at most ${PASSWORD_MAX_CHARS}.`;
  else summary = `${SCORE_LABELS[estimate.score]}${acceptable ? ' — good to go.' : ' — too easy to guess.'}`;
  const tips = estimate && length > 0 ? [estimate.warning, ...estimate.suggestions].filter((t): t is string => !!t) : [];
  const segments = [0, 1, 2, 3];
  return (
    <div className="strength" id={id}>
      <div className={`strength-bar ${score === null ? 'score-none' : `score-${score}`}`} aria-hidden="true">
        {segments.map((segment) => (
          <span key={segment} className={score !== null && score > segment ? 'segment on' : 'segment'} />
        ))}
      </div>
      <p className={`strength-summary ${acceptable ? 'ok' : ''}`} aria-live="polite">
        <span className="visually-hidden">Password strength: </span>
        {summary}
      </p>
      {tips.length > 0 && !acceptable ? (
        <ul className="strength-tips">
          {tips.map((tip) => (
            <li key={tip}>{tip}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
