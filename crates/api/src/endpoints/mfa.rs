//! Second factors: completing a login that answered 202 (POST /api/auth/mfa), the caller's TOTP
//! and recovery codes (/api/me/mfa…), and an administrator's removal of a user's factors.

use poem::web::cookie::CookieJar;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_auth_core::AuthError;
use tessera_auth_core::account::MfaStatus;
use tessera_auth_core::service::{RecoveryCodes, SecondFactorProof, TotpEnrolment};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{AuthResponse, auth_response, set_session_cookies};
use super::passkeys::{OptionsResponse, PasskeyOptionsView};
use super::text::Text;
use crate::auth::Authenticated;
use crate::client::Meta;
use crate::cookies::AuthCookie;
use crate::problem::documented::Declared;
use crate::problem::{ApiError, ProblemCode};
use crate::state::SharedState;

/// The 422 of a request that must carry exactly one credential field and carries none or
/// several (`choices` names them).
pub(crate) fn one_credential(choices: &str) -> ApiError {
    AuthError::Validation {
        field: "body",
        message: format!("exactly one credential must be given: {choices}"),
    }
    .into()
}

/// The second factor of a login that answered 202: exactly one of `totp_code`, `recovery_code`
/// and `credential`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CompleteMfaRequest {
    /// The login's `mfa_token` (`token_delivery: body` only; browsers send the `__Host-mfa`
    /// cookie instead).
    #[oai(validator(max_length = 64), write_only)]
    pub mfa_token: Option<Text>,
    /// A current code of the user's authenticator app (6 digits).
    #[oai(validator(max_length = 32), write_only)]
    pub totp_code: Option<Text>,
    /// One of the user's recovery codes (each works once).
    #[oai(validator(max_length = 64), write_only)]
    pub recovery_code: Option<Text>,
    /// The `PublicKeyCredential.toJSON()` of an assertion answering the options of POST
    /// /api/auth/mfa/passkey/options.
    #[oai(write_only)]
    pub credential: Option<serde_json::Value>,
}

/// Which login the passkey options are for.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MfaPasskeyOptionsRequest {
    /// The login's `mfa_token` (`token_delivery: body` only; browsers send the `__Host-mfa`
    /// cookie instead).
    #[oai(validator(max_length = 64), write_only)]
    pub mfa_token: Option<Text>,
}

/// Which second factors the caller has.
#[derive(Debug, Object)]
#[oai(rename = "MfaStatusResponse")]
pub struct MfaStatusResponse {
    pub totp: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
    pub passkeys: u32,
}

impl From<MfaStatus> for MfaStatusResponse {
    fn from(status: MfaStatus) -> MfaStatusResponse {
        MfaStatusResponse {
            totp: status.totp,
            recovery_codes_left: status.recovery_codes_left,
            passkeys: status.passkeys,
        }
    }
}

/// A started TOTP enrolment: add the secret to an authenticator app (scan `qr_svg`, open
/// `otpauth_uri`, or type `secret`), then confirm a code within 5 minutes.
#[derive(Debug, Object)]
pub struct TotpEnrolmentResponse {
    /// The secret in base32, grouped by four, for typing in.
    pub secret: String,
    pub otpauth_uri: String,
    /// The `otpauth_uri` as a QR code (an SVG document).
    pub qr_svg: String,
}

impl From<TotpEnrolment> for TotpEnrolmentResponse {
    fn from(enrolment: TotpEnrolment) -> TotpEnrolmentResponse {
        TotpEnrolmentResponse {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
            qr_svg: enrolment.qr_svg,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// A current code of the app the secret was added to (6 digits).
    #[oai(validator(max_length = 32), write_only)]
    pub code: Text,
}

#[derive(ApiResponse)]
pub enum TotpEnrolmentResult {
    #[oai(status = 200)]
    Ok(Json<TotpEnrolmentResponse>),
}

/// A fresh set of recovery codes: shown this once, store them somewhere safe.
#[derive(Debug, Object)]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

impl From<RecoveryCodes> for RecoveryCodesResponse {
    fn from(codes: RecoveryCodes) -> RecoveryCodesResponse {
        RecoveryCodesResponse {
            recovery_codes: codes.0,
        }
    }
}

#[derive(ApiResponse)]
pub enum CompleteMfaResponse {
    /// Logged in. Browsers receive the `__Host-access`, `__Host-refresh` and `__Host-csrf`
    /// cookies; the `__Host-mfa` cookie is cleared.
    #[oai(status = 200)]
    Ok(Json<AuthResponse>),
}

#[derive(ApiResponse)]
pub enum MfaStatusResult {
    #[oai(status = 200)]
    Ok(Json<MfaStatusResponse>),
}

#[derive(ApiResponse)]
pub enum RecoveryCodesResult {
    #[oai(status = 200)]
    Ok(Json<RecoveryCodesResponse>),
}

#[derive(ApiResponse)]
pub enum RemovedResponse {
    /// Removed.
    #[oai(status = 204)]
    Removed,
}

pub const PROBLEMS: Declared = &[
    (
        "complete_mfa",
        &[
            ProblemCode::MfaFailed,
            ProblemCode::WebauthnFailed,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::ValidationFailed,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "mfa_passkey_options",
        &[
            ProblemCode::MfaFailed,
            ProblemCode::PasskeysUnavailable,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    ("get_mfa_status", &[ProblemCode::StorageUnavailable]),
    (
        "start_totp_enrolment",
        &[ProblemCode::ValidationFailed, ProblemCode::StorageUnavailable],
    ),
    (
        "confirm_totp",
        &[
            ProblemCode::ValidationFailed,
            ProblemCode::RateLimited,
            ProblemCode::StorageUnavailable,
        ],
    ),
    (
        "disable_totp",
        &[ProblemCode::NotFound, ProblemCode::StorageUnavailable],
    ),
    (
        "regenerate_recovery_codes",
        &[ProblemCode::NotFound, ProblemCode::StorageUnavailable],
    ),
    (
        "admin_remove_mfa",
        &[
            ProblemCode::Forbidden,
            ProblemCode::NotFound,
            ProblemCode::StorageUnavailable,
        ],
    ),
];

pub struct MfaApi;

/// The MFA challenge a request names: the body's `mfa_token` (body delivery) first, since a
/// client that has one means it; else the `__Host-mfa` cookie.
fn challenge_token(state: &SharedState, jar: &CookieJar, body_token: Option<&Text>) -> Result<String, ApiError> {
    match body_token {
        Some(token) => Ok(token.as_str().to_owned()),
        None => Ok(state.cookies.get(jar, AuthCookie::Mfa).ok_or(AuthError::MfaFailed)?),
    }
}

#[OpenApi]
impl MfaApi {
    /// Complete a login that answered 202 with a second factor.
    ///
    /// The challenge is the `__Host-mfa` cookie (browsers) or the body's `mfa_token`. A wrong,
    /// malformed or used code, and an unknown or expired challenge, are 401 `mfa_failed`; a wrong
    /// code counts toward the account's login backoff, and after 5 wrong codes the challenge is
    /// dead (log in again). No `X-CSRF-Token`: there is no session yet (the Origin and JSON checks
    /// of every unsafe request apply).
    #[oai(
        path = "/api/auth/mfa",
        method = "post",
        operation_id = "complete_mfa",
        tag = "ApiTags::Auth"
    )]
    async fn complete_mfa(
        &self,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        Meta(meta): Meta,
        body: Json<CompleteMfaRequest>,
    ) -> Result<CompleteMfaResponse, ApiError> {
        let proof = match (&body.totp_code, &body.recovery_code, &body.credential) {
            (Some(code), None, None) => SecondFactorProof::Totp(code.as_str()),
            (None, Some(code), None) => SecondFactorProof::RecoveryCode(code.as_str()),
            (None, None, Some(assertion)) => SecondFactorProof::Passkey(assertion),
            _ => return Err(one_credential("totp_code, recovery_code or credential")),
        };
        let token = challenge_token(&state, jar, body.mfa_token.as_ref())?;
        let logged_in = state.service.complete_mfa(&token, proof, &meta).await?;
        if body.mfa_token.is_none() {
            state.cookies.clear(jar, AuthCookie::Mfa);
        }
        set_session_cookies(&state, jar, &logged_in.tokens);
        Ok(CompleteMfaResponse::Ok(Json(auth_response(&logged_in))))
    }

    /// Options for completing a login that answered 202 with a passkey.
    ///
    /// The challenge is the `__Host-mfa` cookie (browsers) or the body's `mfa_token`. The
    /// options allow only the user's own passkeys; pass the assertion's `toJSON()` to POST
    /// /api/auth/mfa as `credential` within five minutes. A dead challenge, or a user without
    /// passkeys, is 401 `mfa_failed`. Limited per client IP like the other passkey options.
    #[oai(
        path = "/api/auth/mfa/passkey/options",
        method = "post",
        operation_id = "mfa_passkey_options",
        tag = "ApiTags::Auth"
    )]
    async fn mfa_passkey_options(
        &self,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        body: Json<MfaPasskeyOptionsRequest>,
    ) -> Result<OptionsResponse, ApiError> {
        let token = challenge_token(&state, jar, body.mfa_token.as_ref())?;
        let options = state.service.mfa_passkey_options(&token).await?;
        Ok(PasskeyOptionsView::answer(options))
    }

    /// The caller's second factors.
    #[oai(
        path = "/api/me/mfa",
        method = "get",
        operation_id = "get_mfa_status",
        tag = "ApiTags::Me"
    )]
    async fn get_mfa_status(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<MfaStatusResult, ApiError> {
        let status = state.service.mfa_status(&caller.claims).await?;
        Ok(MfaStatusResult::Ok(Json(status.into())))
    }

    /// Start enrolling an authenticator app (TOTP: SHA-1, 6 digits, 30 s).
    ///
    /// Needs a recent proof of a credential (403 `reauth_required`). Nothing is enabled until
    /// POST /api/me/mfa/totp/confirm; starting again replaces the pending secret. 422 when TOTP is
    /// already enabled.
    #[oai(
        path = "/api/me/mfa/totp",
        method = "post",
        operation_id = "start_totp_enrolment",
        tag = "ApiTags::Me"
    )]
    async fn start_totp_enrolment(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
    ) -> Result<TotpEnrolmentResult, ApiError> {
        let enrolment = state.service.start_totp_enrolment(&caller.claims).await?;
        Ok(TotpEnrolmentResult::Ok(Json(enrolment.into())))
    }

    /// Confirm the pending enrolment with a code: enables TOTP and answers the first recovery
    /// codes (shown this once).
    ///
    /// A wrong code is 422 `validation_failed` naming `code` and counts toward the account's
    /// login backoff; the enrolment stays for another try until its 5 minutes are over.
    #[oai(
        path = "/api/me/mfa/totp/confirm",
        method = "post",
        operation_id = "confirm_totp",
        tag = "ApiTags::Me"
    )]
    async fn confirm_totp(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<ConfirmTotpRequest>,
    ) -> Result<RecoveryCodesResult, ApiError> {
        let codes = state
            .service
            .confirm_totp(&caller.claims, body.code.as_str(), &meta)
            .await?;
        Ok(RecoveryCodesResult::Ok(Json(codes.into())))
    }

    /// Disable TOTP (the recovery codes go too).
    ///
    /// Needs a recent proof of a credential (403 `reauth_required`). 404 when TOTP is not enabled.
    #[oai(
        path = "/api/me/mfa/totp",
        method = "delete",
        operation_id = "disable_totp",
        tag = "ApiTags::Me"
    )]
    async fn disable_totp(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
    ) -> Result<RemovedResponse, ApiError> {
        state.service.disable_totp(&caller.claims, &meta).await?;
        Ok(RemovedResponse::Removed)
    }

    /// Replace the recovery codes with a fresh set (the old ones stop working).
    ///
    /// Needs a recent proof of a credential (403 `reauth_required`). 404 when TOTP is not enabled.
    #[oai(
        path = "/api/me/mfa/recovery-codes",
        method = "post",
        operation_id = "regenerate_recovery_codes",
        tag = "ApiTags::Me"
    )]
    async fn regenerate_recovery_codes(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
    ) -> Result<RecoveryCodesResult, ApiError> {
        let codes = state.service.regenerate_recovery_codes(&caller.claims, &meta).await?;
        Ok(RecoveryCodesResult::Ok(Json(codes.into())))
    }

    /// Remove every second factor of a user (TOTP, recovery codes, passkeys).
    ///
    /// For a user who lost them: they log in with their password alone afterwards, and are
    /// mailed a notice per factor removed. Needs the administrator's recent proof of a
    /// credential (403 `reauth_required`).
    #[oai(
        path = "/api/admin/users/:id/mfa",
        method = "delete",
        operation_id = "admin_remove_mfa",
        tag = "ApiTags::Admin"
    )]
    async fn admin_remove_mfa(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        id: Path<Uuid>,
    ) -> Result<RemovedResponse, ApiError> {
        caller.require_admin()?;
        state.service.admin_remove_mfa(&caller.claims, id.0, &meta).await?;
        Ok(RemovedResponse::Removed)
    }
}
