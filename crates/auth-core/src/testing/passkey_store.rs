//! The in-memory store's passkeys.

use async_trait::async_trait;
use uuid::Uuid;

use super::store::MemoryStore;
use crate::events::SecurityEvent;
use crate::mail::SealedMail;
use crate::mfa::passkey::StoredPasskey;
use crate::ports::{NewPasskey, PasskeyRepository, PasskeyUse, StoreError};

#[async_trait]
impl PasskeyRepository for MemoryStore {
    async fn add_passkey(&self, new: NewPasskey, event: SecurityEvent, notice: SealedMail) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .stored_passkeys
            .iter()
            .any(|p| p.credential_id == new.passkey.credential_id)
        {
            return Err(StoreError::CredentialTaken);
        }
        state.stored_passkeys.push(new.passkey);
        state.events.push(event);
        state.mail.push(notice);
        Ok(())
    }

    async fn list_passkeys(&self, user_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError> {
        let mut passkeys: Vec<StoredPasskey> = self
            .lock()
            .stored_passkeys
            .iter()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect();
        passkeys.sort_by_key(|p| (p.created_at, p.id));
        Ok(passkeys)
    }

    async fn find_passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StoreError> {
        Ok(self
            .lock()
            .stored_passkeys
            .iter()
            .find(|p| p.credential_id == credential_id)
            .cloned())
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> Result<Option<StoredPasskey>, StoreError> {
        let mut state = self.lock();
        let found = state
            .stored_passkeys
            .iter_mut()
            .find(|p| p.id == id && p.user_id == user_id);
        Ok(found.map(|p| {
            p.name = name.to_owned();
            p.clone()
        }))
    }

    async fn delete_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        event: SecurityEvent,
        notice: SealedMail,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let before = state.stored_passkeys.len();
        state.stored_passkeys.retain(|p| !(p.id == id && p.user_id == user_id));
        if state.stored_passkeys.len() == before {
            return Ok(false);
        }
        state.events.push(event);
        state.mail.push(notice);
        Ok(true)
    }

    async fn record_passkey_use(&self, passkey_use: &PasskeyUse) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(passkey) = state.stored_passkeys.iter_mut().find(|p| {
            p.id == passkey_use.passkey_id
                && p.user_id == passkey_use.user_id
                && if passkey_use.require_increase {
                    p.sign_count < passkey_use.sign_count
                } else {
                    p.sign_count <= passkey_use.sign_count
                }
        }) else {
            return Ok(false);
        };
        passkey.sign_count = passkey_use.sign_count;
        passkey.backup_eligible = passkey_use.backup_eligible;
        passkey.backup_state = passkey_use.backup_state;
        passkey.last_used_at = Some(passkey_use.at);
        if let Some(credential) = &passkey_use.credential {
            passkey.credential = credential.clone();
        }
        Ok(true)
    }
}
