//! A scripted WebAuthn relying party for the service's tests, and the authenticator that answers
//! it. No cryptography: the "credential" is a JSON object naming the challenge it answers, the
//! credential id, the user handle, the UV flag, the counter and whether the key is synced; a
//! `forged` credential fails verification. It keeps the rules the real one
//! (`tessera-passkeys`) keeps and the service relies on: the challenge is the ceremony's handle,
//! the user handle must own the credential, a credential registered with user verification must
//! keep verifying, a device-bound key's counter must increase, for-user assertions accept only
//! the credentials offered.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::mfa::passkey::{
    AssertionIdentity, PasskeyError, PasskeyRelyingParty, PasskeyUser, RegisteredPasskey, StartedCeremony,
    StoredPasskey, VerifiedAssertion,
};

#[derive(Debug, Default)]
pub struct ScriptedRelyingParty;

fn state_of(bytes: &[u8]) -> Result<Value, PasskeyError> {
    serde_json::from_slice(bytes).map_err(|_| PasskeyError::Internal("unreadable state".into()))
}

fn started(kind: &str, extra: Value) -> StartedCeremony {
    let challenge: [u8; 16] = rand::random();
    let challenge_hex = hex::encode(challenge);
    let mut state = json!({"kind": kind, "challenge": challenge_hex});
    if let (Some(state), Some(extra)) = (state.as_object_mut(), extra.as_object()) {
        state.extend(extra.clone());
    }
    StartedCeremony {
        options: json!({"challenge": challenge_hex, "state": state.clone()}),
        challenge: challenge.to_vec(),
        state: serde_json::to_vec(&state).unwrap(),
    }
}

fn field<'a>(credential: &'a Value, name: &'static str) -> Result<&'a Value, PasskeyError> {
    credential.get(name).ok_or(PasskeyError::Malformed(name))
}

fn credential_id(credential: &Value) -> Result<Vec<u8>, PasskeyError> {
    let id = field(credential, "id")?.as_str().ok_or(PasskeyError::Malformed("id"))?;
    hex::decode(id).map_err(|_| PasskeyError::Malformed("id"))
}

/// The common checks of a ceremony's finish: kind and challenge.
fn check_state(state: &Value, kind: &str, credential: &Value) -> Result<(), PasskeyError> {
    if state["kind"] != kind {
        return Err(PasskeyError::Internal("ceremony state of another kind".into()));
    }
    if state["challenge"] != *field(credential, "challenge")? {
        return Err(PasskeyError::Rejected("challenge"));
    }
    if credential["forged"] == true {
        return Err(PasskeyError::Rejected("signature"));
    }
    Ok(())
}

fn verify(credential: &Value, passkey: &StoredPasskey) -> Result<VerifiedAssertion, PasskeyError> {
    let stored: Value = serde_json::from_slice(&passkey.credential).unwrap();
    let uv = credential["uv"] == true;
    if stored["uv"] == true && !uv {
        return Err(PasskeyError::UserNotVerified);
    }
    let counter = credential["counter"].as_u64().unwrap_or(0) as u32;
    let stored_counter = stored["counter"].as_u64().unwrap_or(0) as u32;
    if !passkey.backup_eligible && (counter > 0 || stored_counter > 0) && counter <= stored_counter {
        return Err(PasskeyError::CounterRegressed);
    }
    let sign_count = counter.max(stored_counter);
    let updated_credential = (sign_count != stored_counter)
        .then(|| serde_json::to_vec(&json!({"uv": stored["uv"], "counter": sign_count})).unwrap());
    Ok(VerifiedAssertion {
        passkey_id: passkey.id,
        user_verified: uv,
        backup_eligible: passkey.backup_eligible,
        backup_state: passkey.backup_state,
        sign_count,
        updated_credential,
        counter_regressed_on_synced: passkey.backup_eligible && counter <= stored_counter && counter > 0,
    })
}

impl PasskeyRelyingParty for ScriptedRelyingParty {
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[StoredPasskey],
    ) -> Result<StartedCeremony, PasskeyError> {
        let excluded: Vec<String> = existing.iter().map(|p| hex::encode(&p.credential_id)).collect();
        Ok(started(
            "registration",
            json!({"user": user.id.to_string(), "exclude": excluded}),
        ))
    }

    fn finish_registration(&self, state: &[u8], credential: &Value) -> Result<RegisteredPasskey, PasskeyError> {
        let state = state_of(state)?;
        check_state(&state, "registration", credential)?;
        let id = credential_id(credential)?;
        if state["exclude"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|x| x.as_str() == Some(&hex::encode(&id))))
        {
            return Err(PasskeyError::Rejected("algorithm or excluded credential"));
        }
        let uv = credential["uv"] == true;
        let counter = credential["counter"].as_u64().unwrap_or(0) as u32;
        let synced = credential["synced"] == true;
        Ok(RegisteredPasskey {
            credential_id: id,
            credential: serde_json::to_vec(&json!({"uv": uv, "counter": counter})).unwrap(),
            sign_count: counter,
            backup_eligible: synced,
            backup_state: synced,
            user_verified: uv,
            transports: vec!["internal".to_owned()],
            discoverable: Some(true),
        })
    }

    fn start_login(&self) -> Result<StartedCeremony, PasskeyError> {
        Ok(started("login", json!({})))
    }

    fn challenge_of(&self, credential: &Value) -> Result<Vec<u8>, PasskeyError> {
        let challenge = field(credential, "challenge")?
            .as_str()
            .ok_or(PasskeyError::Malformed("challenge"))?;
        hex::decode(challenge).map_err(|_| PasskeyError::Malformed("challenge"))
    }

    fn identify(&self, credential: &Value) -> Result<AssertionIdentity, PasskeyError> {
        let user = field(credential, "user")?
            .as_str()
            .ok_or(PasskeyError::Malformed("user"))?;
        Ok(AssertionIdentity {
            user_id: Uuid::parse_str(user).map_err(|_| PasskeyError::UnknownCredential)?,
            credential_id: credential_id(credential)?,
        })
    }

    fn finish_login(
        &self,
        state: &[u8],
        credential: &Value,
        passkey: &StoredPasskey,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        check_state(&state_of(state)?, "login", credential)?;
        if self.identify(credential)?.user_id != passkey.user_id || credential_id(credential)? != passkey.credential_id
        {
            return Err(PasskeyError::UnknownCredential);
        }
        verify(credential, passkey)
    }

    fn start_for_user(&self, passkeys: &[StoredPasskey]) -> Result<StartedCeremony, PasskeyError> {
        let Some(first) = passkeys.first() else {
            return Err(PasskeyError::UnknownCredential);
        };
        let allowed: Vec<String> = passkeys.iter().map(|p| hex::encode(&p.credential_id)).collect();
        Ok(started(
            "for_user",
            json!({"user": first.user_id.to_string(), "allowed": allowed}),
        ))
    }

    fn finish_for_user(
        &self,
        state: &[u8],
        credential: &Value,
        user_id: Uuid,
        passkeys: &[StoredPasskey],
    ) -> Result<VerifiedAssertion, PasskeyError> {
        let state = state_of(state)?;
        check_state(&state, "for_user", credential)?;
        if state["user"] != user_id.to_string() {
            return Err(PasskeyError::UnknownCredential);
        }
        let id = credential_id(credential)?;
        let offered = state["allowed"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|x| x.as_str() == Some(&hex::encode(&id))));
        let passkey = passkeys
            .iter()
            .find(|p| offered && p.user_id == user_id && p.credential_id == id)
            .ok_or(PasskeyError::UnknownCredential)?;
        verify(credential, passkey)
    }
}

/// The scripted authenticator's key: answers the options of [`ScriptedRelyingParty`].
#[derive(Debug, Clone)]
pub struct ScriptedKey {
    pub id: Vec<u8>,
    pub user: Uuid,
    pub user_verified: bool,
    pub synced: bool,
    pub counter: u32,
}

impl ScriptedKey {
    pub fn new(user: Uuid) -> ScriptedKey {
        ScriptedKey {
            id: rand::random::<[u8; 16]>().to_vec(),
            user,
            user_verified: true,
            synced: false,
            counter: 1,
        }
    }

    /// The credential answering `options` (registration or assertion), counting up first.
    pub fn answer(&mut self, options: &Value) -> Value {
        self.counter += 1;
        self.answer_again(options)
    }

    /// The credential answering `options` with the counter as it is.
    pub fn answer_again(&self, options: &Value) -> Value {
        json!({
            "challenge": options["challenge"],
            "id": hex::encode(&self.id),
            "user": self.user.to_string(),
            "uv": self.user_verified,
            "counter": self.counter,
            "synced": self.synced,
        })
    }
}
