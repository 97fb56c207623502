//! GET and PATCH /api/me.

use poem::web::cookie::CookieJar;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::text::Text;
use super::views::{RoleView, UserView, unix_to_datetime};
use crate::auth::{Authenticated, Credential};
use crate::cookies::AuthCookie;
use crate::problem::ApiError;
use crate::state::SharedState;

/// The caller's identity, read from the access token's claims alone.
#[derive(Debug, Object)]
pub struct MeResponse {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: RoleView,
    pub session_id: Uuid,
    /// When the access token expires.
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub name: Text,
}

#[derive(Debug, Object)]
pub struct ProfileResponse {
    pub user: UserView,
    /// A re-issued access token carrying the new profile, for Bearer callers only (cookie
    /// callers get a new `__Host-access` cookie instead).
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
}

#[derive(ApiResponse)]
pub enum GetMeResponse {
    /// The caller.
    #[oai(status = 200)]
    Ok(Json<MeResponse>),
}

#[derive(ApiResponse)]
pub enum UpdateMeResponse {
    /// Updated; the access token is re-issued with the new name.
    #[oai(status = 200)]
    Ok(Json<ProfileResponse>),
}

pub struct MeApi;

#[OpenApi(tag = "ApiTags::Profile")]
impl MeApi {
    /// Who am I? Answered from the access token alone, with no database read.
    #[oai(path = "/api/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, caller: Authenticated) -> Result<GetMeResponse, ApiError> {
        let claims = caller.claims;
        let role = claims
            .role()
            .map(RoleView::from)
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(GetMeResponse::Ok(Json(MeResponse {
            id: claims.sub,
            email: claims.email,
            name: claims.name,
            role,
            session_id: claims.sid,
            expires_at: unix_to_datetime(claims.exp),
        })))
    }

    /// Change the display name.
    #[oai(path = "/api/me", method = "patch", operation_id = "update_me")]
    async fn update_me(
        &self,
        caller: Authenticated,
        state: poem::web::Data<&SharedState>,
        jar: &CookieJar,
        body: Json<UpdateProfileRequest>,
    ) -> Result<UpdateMeResponse, ApiError> {
        let reissued = state.service.update_name(&caller.claims, body.name.as_str()).await?;
        let access_token = match caller.via {
            Credential::Cookie => {
                let now = state.service.now();
                state.cookies.set(
                    jar,
                    AuthCookie::Access,
                    &reissued.access_token,
                    now,
                    reissued.access_expires_at,
                );
                None
            }
            Credential::Bearer => Some(reissued.access_token),
        };
        Ok(UpdateMeResponse::Ok(Json(ProfileResponse {
            user: UserView::from(&reissued.user),
            access_token,
        })))
    }
}
