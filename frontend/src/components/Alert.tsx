import type { ReactNode } from 'react';

/**
 * Messages announced to screen readers. The live region exists before its content arrives (an
 * empty region that later fills is announced; a region inserted with its text often is not).
 */
export function ErrorMessage({ children, id }: { children?: ReactNode; id?: string }) {
  return (
    <div className="alert-slot" role="alert" aria-live="assertive" {...(id ? { id } : {})}>
      {children ? <p className="alert alert-error">{children}</p> : null}
    </div>
  );
}

export function StatusMessage({ children }: { children?: ReactNode }) {
  return (
    <div className="alert-slot" role="status" aria-live="polite">
      {children ? <p className="alert alert-success">{children}</p> : null}
    </div>
  );
}

export function Notice({ children, tone = 'info' }: { children: ReactNode; tone?: 'info' | 'warning' }) {
  return <div className={`alert alert-${tone}`}>{children}</div>;
}
