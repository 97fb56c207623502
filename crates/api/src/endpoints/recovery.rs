//! Account recovery by mail, without a session: POST /api/auth/password/{forgot,reset} and
//! /api/auth/email/{verify,confirm}. The token comes from the fragment of a mailed link, which
//! the SPA's page POSTs when the user presses its button.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::text::Text;
use crate::client::Meta;
use crate::problem::ApiError;
use crate::state::SharedState;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[oai(validator(max_length = 254))]
    pub email: Text,
}

/// The same for every address, known or not.
#[derive(Debug, Object)]
pub struct ForgotPasswordAccepted {
    /// Always `accepted`.
    pub status: String,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The `token` of the reset link's fragment (`/reset-password#token=…`).
    #[oai(validator(max_length = 256), write_only)]
    pub token: Text,
    /// 12 to 256 characters; very common or guessable passwords are refused.
    #[oai(validator(max_length = 256), write_only)]
    pub new_password: Text,
}

/// A token from a mailed link.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MailTokenRequest {
    /// The `token` of the link's fragment.
    #[oai(validator(max_length = 256), write_only)]
    pub token: Text,
}

#[derive(ApiResponse)]
pub enum ForgotPasswordResponse {
    /// Accepted. When an account has this address, a reset link is on its way (at most one a
    /// minute); the answer, and its timing, are the same when none has.
    #[oai(status = 202)]
    Accepted(Json<ForgotPasswordAccepted>),
}

#[derive(ApiResponse)]
pub enum ResetPasswordResponse {
    /// The password is set and every session of the account has ended; log in with it.
    #[oai(status = 204)]
    Reset,
}

#[derive(ApiResponse)]
pub enum VerifyEmailResponse {
    /// The address is verified (access tokens say so from their next refresh).
    #[oai(status = 204)]
    Verified,
}

#[derive(ApiResponse)]
pub enum ConfirmEmailResponse {
    /// The new address replaces the old one and is verified; every session except the one that
    /// asked for the change has ended.
    #[oai(status = 204)]
    Confirmed,
}

pub struct RecoveryApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl RecoveryApi {
    /// Ask for a password reset link.
    ///
    /// Always 202 with the same body, whether or not an account has the address; the mail is
    /// queued after the answer, so the answer's timing does not depend on the account either.
    /// Rate-limited per client IP.
    #[oai(
        path = "/api/auth/password/forgot",
        method = "post",
        operation_id = "forgot_password"
    )]
    async fn forgot_password(
        &self,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<ForgotPasswordRequest>,
    ) -> Result<ForgotPasswordResponse, ApiError> {
        let service = state.service.clone();
        let email = body.0.email.into_string();
        // Answered before any account-dependent work: the lookup, the token and the mail happen
        // after, so known and unknown addresses answer in the same time.
        tokio::spawn(async move {
            if let Err(error) = service.request_password_reset(&email, &meta).await {
                tracing::warn!(error = %error, "password reset request failed; no mail was queued");
            }
        });
        Ok(ForgotPasswordResponse::Accepted(Json(ForgotPasswordAccepted {
            status: "accepted".to_owned(),
        })))
    }

    /// Set a new password with the token of a reset link.
    ///
    /// A password that breaks the policy is 422 and leaves the token usable. An unknown,
    /// expired, used or other-purpose token is 400 `token_invalid`. Ends every session of the
    /// account and does not log in.
    #[oai(path = "/api/auth/password/reset", method = "post", operation_id = "reset_password")]
    async fn reset_password(
        &self,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<ResetPasswordRequest>,
    ) -> Result<ResetPasswordResponse, ApiError> {
        state
            .service
            .reset_password(body.token.as_str(), body.new_password.as_str(), &meta)
            .await?;
        Ok(ResetPasswordResponse::Reset)
    }

    /// Verify the account's address with the token of a verification link (no session needed:
    /// the link may be opened in another browser).
    #[oai(path = "/api/auth/email/verify", method = "post", operation_id = "verify_email")]
    async fn verify_email(
        &self,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<MailTokenRequest>,
    ) -> Result<VerifyEmailResponse, ApiError> {
        state.service.verify_email(body.token.as_str(), &meta).await?;
        Ok(VerifyEmailResponse::Verified)
    }

    /// Confirm an email change with the token mailed to the new address.
    ///
    /// 409 `email_taken` (the token stays usable) when another account has taken the address
    /// since the change was asked for.
    #[oai(path = "/api/auth/email/confirm", method = "post", operation_id = "confirm_email")]
    async fn confirm_email(
        &self,
        state: poem::web::Data<&SharedState>,
        Meta(meta): Meta,
        body: Json<MailTokenRequest>,
    ) -> Result<ConfirmEmailResponse, ApiError> {
        state.service.confirm_email(body.token.as_str(), &meta).await?;
        Ok(ConfirmEmailResponse::Confirmed)
    }
}
