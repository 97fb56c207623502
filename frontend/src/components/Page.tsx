import { useEffect, useRef, type ReactNode } from 'react';

let firstPage = true;

/**
 * A page's heading and title. After a client-side navigation the heading takes focus, so screen
 * reader and keyboard users start at the new content (as they would after a full page load).
 */
export function Page({ title, intro, children, wide = false }: { title: string; intro?: ReactNode; children: ReactNode; wide?: boolean }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Tessera`;
    if (firstPage) {
      firstPage = false;
      return;
    }
    heading.current?.focus();
  }, [title]);
  return (
    <section className={wide ? 'page page-wide' : 'page'} aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title" ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {intro ? <p className="page-intro">{intro}</p> : null}
      </header>
      {children}
    </section>
  );
}
