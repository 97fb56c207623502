//! Passkeys: the caller's (POST /api/me/passkeys/options, POST/GET /api/me/passkeys,
//! PATCH/DELETE /api/me/passkeys/{id}) and the usernameless login (POST
//! /api/auth/passkey/options, POST /api/auth/passkey).
//!
//! Options answer `{publicKey: …}`: the dictionary `PublicKeyCredential.parseCreationOptionsFromJSON`
//! / `parseRequestOptionsFromJSON` take. Credentials are the browser's
//! `PublicKeyCredential.toJSON()`, passed through as JSON to the relying party, which reads
//! what it needs and ignores the rest (the unknown-field rule of the request objects does not
//! reach inside `credential`). Where the public origin cannot be a relying party, every one of
//! these answers 409 `passkeys_unavailable`.

use std::collections::BTreeMap;

use poem::web::cookie::CookieJar;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{AuthResponse, auth_response, set_session_cookies};
use super::export::PasskeySummaryView;
use super::text::Text;
use super::views::TokenDeliveryView;
use crate::auth::Authenticated;
use crate::client::Meta;
use crate::problem::documented::Declared;
use crate::problem::{ApiError, ProblemCode};
use crate::state::SharedState;

/// WebAuthn options, to pass to `PublicKeyCredential.parseCreationOptionsFromJSON` (registration)
/// or `parseRequestOptionsFromJSON` (assertion), then to `navigator.credentials.create/get`.
#[derive(Debug, Object)]
#[oai(rename = "PasskeyOptions")]
pub struct PasskeyOptionsView {
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`.
    #[oai(rename = "publicKey")]
    pub public_key: BTreeMap<String, serde_json::Value>,
}

impl PasskeyOptionsView {
    /// The relying party's options dictionary (always a JSON object; the spec says so, so
    /// generated clients get an object type rather than "anything").
    pub(crate) fn answer(options: serde_json::Value) -> OptionsResponse {
        let public_key = match options {
            serde_json::Value::Object(members) => members.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        OptionsResponse::Ok(Json(PasskeyOptionsView { public_key }))
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterPasskeyRequest {
    /// 1 to 100 characters, to tell the passkeys apart ("Laptop", "Phone").
    #[oai(validator(max_length = 100))]
    pub name: Text,
    /// The new credential's `PublicKeyCredential.toJSON()`.
    pub credential: serde_json::Value,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RenamePasskeyRequest {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub name: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PasskeyLoginRequest {
    /// The assertion's `PublicKeyCredential.toJSON()`.
    pub credential: serde_json::Value,
    pub token_delivery: Option<TokenDeliveryView>,
}

#[derive(Debug, Object)]
pub struct PasskeyList {
    /// Oldest first.
    pub items: Vec<PasskeySummaryView>,
}

#[derive(ApiResponse)]
pub enum OptionsResponse {
    /// The options of a ceremony that lives five minutes and finishes once.
    #[oai(status = 200)]
    Ok(Json<PasskeyOptionsView>),
}

#[derive(ApiResponse)]
pub enum RegisterPasskeyResponse {
    /// Registered; a notice went to the account's address.
    #[oai(status = 201)]
    Created(Json<PasskeySummaryView>),
}

#[derive(ApiResponse)]
pub enum ListPasskeysResponse {
    #[oai(status = 200)]
    Ok(Json<PasskeyList>),
}

#[derive(ApiResponse)]
pub enum RenamePasskeyResponse {
    #[oai(status = 200)]
    Ok(Json<PasskeySummaryView>),
}

#[derive(ApiResponse)]
pub enum DeletePasskeyResponse {
    /// Deleted; a notice went to the account's address.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum PasskeyLoginResponse {
    /// Logged in. Browsers receive the `__Host-access`, `__Host-refresh` and `__Host-csrf` cookies.
    #[oai(status = 200)]
    Ok(Json<AuthResponse>),
}

pub const PROBLEMS: Declared = &[
    (
        "passkey_registration_options",
        &[
            ProblemCode::ReauthRequired,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "register_passkey",
        &[
            ProblemCode::ValidationFailed,
            ProblemCode::WebauthnFailed,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::StorageUnavailable,
        ],
    ),
    ("list_passkeys", &[ProblemCode::StorageUnavailable]),
    (
        "rename_passkey",
        &[
            ProblemCode::ValidationFailed,
            ProblemCode::NotFound,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "delete_passkey",
        &[
            ProblemCode::ReauthRequired,
            ProblemCode::NotFound,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "reauth_passkey_options",
        &[
            ProblemCode::NotFound,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "passkey_login_options",
        &[ProblemCode::PasskeysUnavailable, ProblemCode::StorageUnavailable],
    ),
    (
        "login_with_passkey",
        &[
            ProblemCode::WebauthnFailed,
            ProblemCode::MfaRequired,
            ProblemCode::InvalidCredentials,
            ProblemCode::EmailUnverified,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::StorageUnavailable,
        ],
    ),
];

pub struct PasskeysApi;

#[OpenApi(tag = "ApiTags::Me")]
impl PasskeysApi {
    /// Start registering a passkey (needs a recent proof of a credential).
    ///
    /// Asks for a discoverable credential with user verification preferred, excluding the
    /// caller's existing passkeys. Finish within five minutes with POST /api/me/passkeys.
    #[oai(
        path = "/api/me/passkeys/options",
        method = "post",
        operation_id = "passkey_registration_options"
    )]
    async fn passkey_registration_options(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<OptionsResponse, ApiError> {
        let options = state.service.passkey_registration_options(&caller.claims).await?;
        Ok(PasskeyOptionsView::answer(options))
    }

    /// Register the passkey the browser created for the options of POST /api/me/passkeys/options.
    #[oai(path = "/api/me/passkeys", method = "post", operation_id = "register_passkey")]
    async fn register_passkey(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<RegisterPasskeyRequest>,
    ) -> Result<RegisterPasskeyResponse, ApiError> {
        let added = state
            .service
            .register_passkey(&caller.claims, body.name.as_str(), &body.credential, &meta)
            .await?;
        Ok(RegisterPasskeyResponse::Created(Json(added.into())))
    }

    /// The caller's passkeys.
    #[oai(path = "/api/me/passkeys", method = "get", operation_id = "list_passkeys")]
    async fn list_passkeys(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<ListPasskeysResponse, ApiError> {
        let passkeys = state.service.list_passkeys(&caller.claims).await?;
        Ok(ListPasskeysResponse::Ok(Json(PasskeyList {
            items: passkeys.into_iter().map(PasskeySummaryView::from).collect(),
        })))
    }

    /// Rename one of the caller's passkeys (404 for any other id).
    #[oai(path = "/api/me/passkeys/:id", method = "patch", operation_id = "rename_passkey")]
    async fn rename_passkey(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        id: Path<Uuid>,
        body: Json<RenamePasskeyRequest>,
    ) -> Result<RenamePasskeyResponse, ApiError> {
        let renamed = state
            .service
            .rename_passkey(&caller.claims, id.0, body.name.as_str())
            .await?;
        Ok(RenamePasskeyResponse::Ok(Json(renamed.into())))
    }

    /// Delete one of the caller's passkeys (needs a recent proof of a credential; 404 for any
    /// other id).
    #[oai(path = "/api/me/passkeys/:id", method = "delete", operation_id = "delete_passkey")]
    async fn delete_passkey(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        id: Path<Uuid>,
    ) -> Result<DeletePasskeyResponse, ApiError> {
        state.service.delete_passkey(&caller.claims, id.0, &meta).await?;
        Ok(DeletePasskeyResponse::Deleted)
    }
}

pub struct PasskeyLoginApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl PasskeyLoginApi {
    /// Start re-authenticating the current session with a passkey.
    ///
    /// The options allow only the caller's own passkeys; pass the assertion's `toJSON()` to
    /// POST /api/auth/reauth as `credential` within five minutes. 404 when the caller has no
    /// passkey.
    #[oai(
        path = "/api/auth/reauth/passkey/options",
        method = "post",
        operation_id = "reauth_passkey_options"
    )]
    async fn reauth_passkey_options(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<OptionsResponse, ApiError> {
        let options = state.service.reauth_passkey_options(&caller.claims).await?;
        Ok(PasskeyOptionsView::answer(options))
    }

    /// Start a usernameless passkey login.
    ///
    /// No credentials are listed, so the browser offers every passkey of this site (also with
    /// conditional mediation, in the username field's autofill). Limited per client IP.
    #[oai(
        path = "/api/auth/passkey/options",
        method = "post",
        operation_id = "passkey_login_options"
    )]
    async fn passkey_login_options(&self, state: poem::web::Data<&SharedState>) -> Result<OptionsResponse, ApiError> {
        let options = state.service.passkey_login_options().await?;
        Ok(PasskeyOptionsView::answer(options))
    }

    /// Log in with a passkey: the assertion for the options of POST /api/auth/passkey/options.
    ///
    /// With user verification (PIN or biometrics) the session's `amr` is `hwk` (device-bound) or
    /// `swk` (synced), `user` and `mfa`; without it a passkey is one factor and the answer is 401
    /// `mfa_required`. A disabled account answers 401 `invalid_credentials`, as a failed login.
    #[oai(path = "/api/auth/passkey", method = "post", operation_id = "login_with_passkey")]
    async fn login_with_passkey(
        &self,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<PasskeyLoginRequest>,
    ) -> Result<PasskeyLoginResponse, ApiError> {
        let delivery = body.token_delivery.unwrap_or_default().into();
        let logged_in = state
            .service
            .login_with_passkey(&body.credential, delivery, &meta)
            .await?;
        set_session_cookies(&state, jar, &logged_in.tokens);
        Ok(PasskeyLoginResponse::Ok(Json(auth_response(&logged_in))))
    }
}
