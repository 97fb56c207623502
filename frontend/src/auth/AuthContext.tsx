import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, api, tessera, unwrap, type EndReason, type Me } from '../api';
import { passwordLogin, type LoginStep } from './mfa';

export type AuthState =
  | { status: 'loading' }
  | { status: 'unavailable'; error: ApiError | Error }
  | { status: 'anonymous'; note: EndReason | null }
  | { status: 'authenticated'; me: Me };

export interface Auth {
  state: AuthState;
  /**
   * Signed in, or (a user with a second factor) the challenge to answer: the login page then
   * completes it (POST /api/auth/mfa) and calls {@link Auth.loggedIn}.
   */
  login(email: string, password: string): Promise<LoginStep>;
  /** After a login that set the session cookies elsewhere (the MFA step, a passkey). */
  loggedIn(): Promise<void>;
  register(email: string, password: string, name: string): Promise<void>;
  logout(): Promise<void>;
  /** "Log out everywhere" and similar: the server already ended this session. */
  sessionEnded(reason: EndReason): void;
  /** After a profile change. */
  updateMe(patch: Partial<Me>): void;
  /** Re-reads the identity (GET /api/me). */
  reload(): Promise<void>;
  /**
   * After the server changed the account outside this session (address verified or replaced
   * through a mail link): when signed in, refreshes so the access token's claims carry the
   * change, then re-reads the identity. A refresh that fails leaves the state as it was, or ends
   * the session when the server ended it; it never throws.
   */
  refreshIdentity(): Promise<void>;
  dismissNote(): void;
}

const AuthContext = createContext<Auth | null>(null);

async function fetchMe(): Promise<Me | null> {
  try {
    return await unwrap(api.GET('/api/me'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: 'loading' });

  const reload = useCallback(async () => {
    try {
      const me = await fetchMe();
      setState((previous) =>
        me
          ? { status: 'authenticated', me }
          : { status: 'anonymous', note: previous.status === 'anonymous' ? previous.note : null },
      );
    } catch (err) {
      setState({ status: 'unavailable', error: err instanceof Error ? err : new Error(String(err)) });
    }
  }, []);

  useEffect(() => {
    void reload();
    return tessera.subscribe((event) => {
      if (event.type === 'session-ended') {
        setState({ status: 'anonymous', note: event.reason });
      } else if (event.type === 'logged-in') {
        // Another tab signed in: the cookies are shared, so this tab is signed in too.
        void reload();
      }
    });
  }, [reload]);

  const signedIn = state.status === 'authenticated';
  const refreshIdentity = useCallback(async () => {
    if (!signedIn) return;
    const outcome = await tessera.refresh();
    if (outcome.ok) await reload();
  }, [signedIn, reload]);

  const afterLogin = useCallback(async () => {
    tessera.announceLogin();
    const me = await unwrap(api.GET('/api/me'));
    setState({ status: 'authenticated', me });
  }, []);

  const login = useCallback(
    async (email: string, password: string) => {
      const step = await passwordLogin(api, email, password);
      if (step.kind === 'signed-in') await afterLogin();
      return step;
    },
    [afterLogin],
  );

  const register = useCallback(
    async (email: string, password: string, name: string) => {
      await unwrap(api.POST('/api/auth/register', { body: { email, password, name } }));
      await afterLogin();
    },
    [afterLogin],
  );

  const logout = useCallback(async () => {
    await tessera.logout();
    setState({ status: 'anonymous', note: 'logged_out' });
  }, []);

  const sessionEnded = useCallback((reason: EndReason) => {
    tessera.endSession(reason);
    setState({ status: 'anonymous', note: reason });
  }, []);

  const updateMe = useCallback((patch: Partial<Me>) => {
    setState((previous) =>
      previous.status === 'authenticated' ? { status: 'authenticated', me: { ...previous.me, ...patch } } : previous,
    );
  }, []);

  const dismissNote = useCallback(() => {
    setState((previous) => (previous.status === 'anonymous' ? { status: 'anonymous', note: null } : previous));
  }, []);

  const value = useMemo<Auth>(
    () => ({
      state,
      login,
      loggedIn: afterLogin,
      register,
      logout,
      sessionEnded,
      updateMe,
      reload,
      refreshIdentity,
      dismissNote,
    }),
    [state, login, afterLogin, register, logout, sessionEnded, updateMe, reload, refreshIdentity, dismissNote],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside <AuthProvider>');
  return auth;
}

/** The signed-in user; only for pages behind <RequireAuth>. */
export function useMe(): Me {
  const { state } = useAuth();
  if (state.status !== 'authenticated') throw new Error('useMe without a signed-in user');
  return state.me;
}
