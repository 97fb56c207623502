import { useId, type InputHTMLAttributes, type ReactNode } from 'react';

type Props = Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> & {
  label: string;
  hint?: ReactNode;
  error?: ReactNode;
  /** Rendered after the input (e.g. a show-password toggle). */
  addon?: ReactNode;
  /** Rendered below the hint (e.g. a strength meter); its id joins aria-describedby. */
  below?: (describedById: string) => ReactNode;
};

/** A labelled input whose hint and error are tied to it with aria-describedby. */
export function Field({ label, hint, error, addon, below, className, ...input }: Props) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const belowId = `${id}-below`;
  const describedBy = [hint ? hintId : null, below ? belowId : null, error ? errorId : null]
    .filter(Boolean)
    .join(' ');
  return (
    <div className={['field', className].filter(Boolean).join(' ')}>
      <label htmlFor={id}>{label}</label>
      <div className={addon ? 'input-row' : undefined}>
        <input
          id={id}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy || undefined}
          {...input}
        />
        {addon}
      </div>
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {below ? below(belowId) : null}
      {error ? (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      ) : null}
    </div>
  );
}
