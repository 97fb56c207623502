import type { ReactNode } from 'react';
import { Navigate, Outlet, useLocation } from 'react-router';
import { useAuth } from '../auth/AuthContext';
import { Page } from './Page';

/** Pages for signed-in users; everyone else goes to the login page and comes back after. */
export function RequireAuth() {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status !== 'authenticated') {
    // After a deliberate logout the next login starts afresh; after an expired or revoked
    // session it returns to the page the user was on.
    const deliberate =
      state.status === 'anonymous' && (state.note === 'logged_out' || state.note === 'logged_out_elsewhere' || state.note === 'account_deleted');
    return <Navigate to="/login" replace state={deliberate ? null : { from: location.pathname }} />;
  }
  return <Outlet />;
}

export function RequireAdmin({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  if (state.status === 'authenticated' && state.me.role !== 'admin') {
    return (
      <Page title="Not allowed">
        <p>This page is for administrators.</p>
      </Page>
    );
  }
  return <>{children}</>;
}

/** Login and register: a signed-in user goes on to where they were heading. */
export function GuestOnly({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status === 'authenticated') {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== '/login' ? from : '/profile'} replace />;
  }
  return <>{children}</>;
}
