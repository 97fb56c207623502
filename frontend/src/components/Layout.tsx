import { useState } from 'react';
import { Link, NavLink, Outlet } from 'react-router';
import { useAuth } from '../auth/AuthContext';
import { describeError } from '../api';
import { ErrorMessage } from './Alert';
import { Button } from './Button';
import { Loading } from './Spinner';
import { UnverifiedBanner } from './UnverifiedBanner';

export function Layout() {
  const auth = useAuth();
  const { state } = auth;
  const [loggingOut, setLoggingOut] = useState(false);
  const [logoutError, setLogoutError] = useState<string | null>(null);

  const onLogout = async () => {
    setLoggingOut(true);
    setLogoutError(null);
    try {
      await auth.logout();
    } catch (err) {
      setLogoutError(describeError(err));
    } finally {
      setLoggingOut(false);
    }
  };

  const me = state.status === 'authenticated' ? state.me : null;

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link to={me ? '/profile' : '/login'} className="brand" aria-label="Tessera home">
            <span className="brand-mark" aria-hidden="true" />
            <span>Tessera</span>
          </Link>
          {me ? (
            <>
              <nav aria-label="Account" className="nav">
                <NavLink to="/profile">Profile</NavLink>
                <NavLink to="/password">Password</NavLink>
                <NavLink to="/security">Security</NavLink>
                <NavLink to="/sessions">Sessions</NavLink>
                <NavLink to="/events">Security log</NavLink>
                {me.role === 'admin' ? <NavLink to="/admin/users">Users</NavLink> : null}
              </nav>
              <div className="whoami">
                <span className="whoami-email" title={me.email}>
                  {me.email}
                </span>
                <Button variant="secondary" onClick={onLogout} busy={loggingOut} busyLabel="Logging out…">
                  Log out
                </Button>
              </div>
            </>
          ) : (
            <nav aria-label="Account" className="nav">
              <NavLink to="/login">Log in</NavLink>
              <NavLink to="/register">Create account</NavLink>
            </nav>
          )}
        </div>
      </header>
      <main id="main" className="main">
        <ErrorMessage>{logoutError}</ErrorMessage>
        {state.status === 'loading' ? (
          <Loading label="Checking your session…" />
        ) : state.status === 'unavailable' ? (
          <div className="page">
            <h1>Tessera is unavailable</h1>
            <ErrorMessage>{describeError(state.error)}</ErrorMessage>
            <Button onClick={() => void auth.reload()}>Try again</Button>
          </div>
        ) : (
          <>
            {me && !me.email_verified ? <UnverifiedBanner email={me.email} /> : null}
            <Outlet />
          </>
        )}
      </main>
      <footer className="footer">
        <p>
          Tessera · <a href="/api/docs">API documentation</a>
        </p>
      </footer>
    </div>
  );
}
