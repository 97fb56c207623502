import { Navigate, Route, Routes } from 'react-router';
import { useAuth } from './auth/AuthContext';
import { GuestOnly, RequireAdmin, RequireAuth } from './components/Guards';
import { Layout } from './components/Layout';
import { AdminUsersPage } from './pages/AdminUsersPage';
import { ConfirmEmailPage } from './pages/ConfirmEmailPage';
import { EventsPage } from './pages/EventsPage';
import { ForgotPasswordPage } from './pages/ForgotPasswordPage';
import { LoginPage } from './pages/LoginPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { PasswordPage } from './pages/PasswordPage';
import { ProfilePage } from './pages/ProfilePage';
import { RegisterPage } from './pages/RegisterPage';
import { ResetPasswordPage } from './pages/ResetPasswordPage';
import { SecurityPage } from './pages/SecurityPage';
import { SessionsPage } from './pages/SessionsPage';
import { VerifyEmailPage } from './pages/VerifyEmailPage';

function Home() {
  const { state } = useAuth();
  return <Navigate to={state.status === 'authenticated' ? '/profile' : '/login'} replace />;
}

export function App() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Home />} />
        <Route path="login" element={<GuestOnly><LoginPage /></GuestOnly>} />
        <Route path="register" element={<GuestOnly><RegisterPage /></GuestOnly>} />
        <Route path="forgot-password" element={<GuestOnly><ForgotPasswordPage /></GuestOnly>} />
        {/* Mail links: open signed in or out, in any browser; the token is in the fragment. */}
        <Route path="reset-password" element={<ResetPasswordPage />} />
        <Route path="verify-email" element={<VerifyEmailPage />} />
        <Route path="confirm-email" element={<ConfirmEmailPage />} />
        <Route element={<RequireAuth />}>
          <Route path="profile" element={<ProfilePage />} />
          <Route path="password" element={<PasswordPage />} />
          <Route path="security" element={<SecurityPage />} />
          <Route path="sessions" element={<SessionsPage />} />
          <Route path="events" element={<EventsPage />} />
          <Route path="admin/users" element={<RequireAdmin><AdminUsersPage /></RequireAdmin>} />
        </Route>
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
