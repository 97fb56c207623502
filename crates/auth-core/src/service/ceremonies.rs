//! The store's side of a ceremony (`mfa::ceremony`), shared by the passkey ceremonies and the
//! TOTP enrolment: start one, finish one, sweep what expired.

use uuid::Uuid;

use super::AuthService;
use crate::error::AuthError;
use crate::mfa::ceremony::{Ceremony, CeremonyError, CeremonyKey, CeremonyKind};

impl AuthService {
    /// Stores the state of a ceremony of `kind` for `user_id`, keyed by `handle` (the WebAuthn
    /// challenge, or the user id of a TOTP enrolment), for five minutes.
    pub async fn start_ceremony(
        &self,
        kind: CeremonyKind,
        user_id: Option<Uuid>,
        handle: &[u8],
        state: Vec<u8>,
    ) -> Result<(), AuthError> {
        let ceremony = Ceremony::new(kind, user_id, handle, state, self.now());
        self.store.put_ceremony(ceremony).await?;
        Ok(())
    }

    /// Takes the ceremony of `kind` under `handle` and returns its state when it belongs to
    /// `user_id` and is live. Single use: a refused finish has consumed it too (the client starts
    /// again), so a guessed or stale handle cannot be retried against the same state. The outer
    /// error is the store's; the inner one says why the ceremony cannot be finished, for the
    /// caller to answer in its own terms.
    pub async fn finish_ceremony(
        &self,
        kind: CeremonyKind,
        user_id: Option<Uuid>,
        handle: &[u8],
    ) -> Result<Result<Vec<u8>, CeremonyError>, AuthError> {
        let key = CeremonyKey::derive(kind, handle);
        let Some(ceremony) = self.store.take_ceremony(&key).await? else {
            return Ok(Err(CeremonyError::Unknown));
        };
        Ok(ceremony.open(kind, user_id, self.now()))
    }

    /// Deletes expired ceremonies and MFA challenges (a periodic task; correctness never depends
    /// on it, since every read checks expiry). Returns how many rows went.
    pub async fn sweep_expired_ceremonies(&self) -> Result<u64, AuthError> {
        Ok(self.store.sweep_expired_ceremonies(self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use crate::mfa::ceremony::{CEREMONY_TTL, CeremonyError, CeremonyKind};
    use crate::testing::harness;

    const HANDLE: &[u8] = b"challenge-bytes-of-a-webauthn-ceremony";

    #[tokio::test]
    async fn a_ceremony_finishes_once_for_its_owner_within_five_minutes() {
        let t = harness();
        let owner = uuid::Uuid::now_v7();
        let kind = CeremonyKind::PasskeyRegistration;
        t.service
            .start_ceremony(kind, Some(owner), HANDLE, b"state".to_vec())
            .await
            .unwrap();
        t.clock.advance(CEREMONY_TTL - Duration::seconds(1));
        assert_eq!(
            t.service.finish_ceremony(kind, Some(owner), HANDLE).await.unwrap(),
            Ok(b"state".to_vec())
        );
        // Single use.
        assert_eq!(
            t.service.finish_ceremony(kind, Some(owner), HANDLE).await.unwrap(),
            Err(CeremonyError::Unknown)
        );
    }

    #[tokio::test]
    async fn a_stale_foreign_or_other_kind_ceremony_is_refused_and_consumed() {
        let t = harness();
        let owner = uuid::Uuid::now_v7();
        let kind = CeremonyKind::PasskeyReauth;
        t.service
            .start_ceremony(kind, Some(owner), HANDLE, vec![1])
            .await
            .unwrap();
        // Another kind derives another key: the login's handle cannot find a re-auth ceremony.
        assert_eq!(
            t.service
                .finish_ceremony(CeremonyKind::PasskeyLogin, None, HANDLE)
                .await
                .unwrap(),
            Err(CeremonyError::Unknown)
        );
        let stranger = uuid::Uuid::now_v7();
        assert_eq!(
            t.service.finish_ceremony(kind, Some(stranger), HANDLE).await.unwrap(),
            Err(CeremonyError::WrongUser)
        );
        // The stranger's attempt used it up.
        assert_eq!(
            t.service.finish_ceremony(kind, Some(owner), HANDLE).await.unwrap(),
            Err(CeremonyError::Unknown)
        );

        t.service
            .start_ceremony(kind, Some(owner), HANDLE, vec![2])
            .await
            .unwrap();
        t.clock.advance(CEREMONY_TTL);
        assert_eq!(
            t.service.finish_ceremony(kind, Some(owner), HANDLE).await.unwrap(),
            Err(CeremonyError::Expired)
        );
    }

    #[tokio::test]
    async fn the_sweep_removes_only_expired_ceremonies() {
        let t = harness();
        let owner = uuid::Uuid::now_v7();
        let kind = CeremonyKind::TotpEnrolment;
        t.service
            .start_ceremony(kind, Some(owner), b"old", vec![1])
            .await
            .unwrap();
        t.clock.advance(Duration::minutes(3));
        t.service
            .start_ceremony(kind, Some(owner), b"new", vec![2])
            .await
            .unwrap();
        t.clock.advance(Duration::minutes(3));
        assert_eq!(t.service.sweep_expired_ceremonies().await.unwrap(), 1);
        assert_eq!(
            t.service.finish_ceremony(kind, Some(owner), b"new").await.unwrap(),
            Ok(vec![2])
        );
    }
}
