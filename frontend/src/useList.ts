import { useCallback, useEffect, useRef, useState } from 'react';

export interface PageOf<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface ListState<T> {
  items: T[];
  loading: boolean;
  error: unknown;
  hasMore: boolean;
  loadMore(): void;
  reload(): void;
  update(change: (items: T[]) => T[]): void;
}

/** A cursor-paginated list endpoint (`{items, next_cursor?}`) with loading and error states. */
export function useList<T>(load: (cursor: string | undefined) => Promise<PageOf<T>>): ListState<T> {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const fetchPage = useCallback((from: string | undefined, replace: boolean) => {
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    loadRef
      .current(from)
      .then((page) => {
        if (mine !== generation.current) return;
        setItems((previous) => (replace ? page.items : [...previous, ...page.items]));
        setCursor(page.next_cursor ?? null);
      })
      .catch((err: unknown) => {
        if (mine === generation.current) setError(err);
      })
      .finally(() => {
        if (mine === generation.current) setLoading(false);
      });
  }, []);

  useEffect(() => {
    fetchPage(undefined, true);
  }, [fetchPage]);

  return {
    items,
    loading,
    error,
    hasMore: cursor !== null,
    loadMore: () => {
      if (cursor) fetchPage(cursor, false);
    },
    reload: () => fetchPage(undefined, true),
    update: (change) => setItems(change),
  };
}
