//! GET /.well-known/jwks.json.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::state::SharedState;

/// An Ed25519 public key (RFC 8037).
#[derive(Debug, Object)]
#[oai(rename = "Jwk")]
pub struct JwkView {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[oai(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Object)]
#[oai(rename = "JwkSet")]
pub struct JwkSetView {
    pub keys: Vec<JwkView>,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The keys that verify current access tokens: the signing key and any previous key whose
    /// tokens may still be alive. Empty when HS256 is configured (a shared secret is never published).
    #[oai(status = 200)]
    Ok(Json<JwkSetView>),
}

pub struct KeysApi;

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// Public verification keys.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: poem::web::Data<&SharedState>) -> JwksResponse {
        let keys = state
            .service
            .key_ring()
            .public_jwks()
            .into_iter()
            .map(|k| JwkView {
                kty: k.kty,
                crv: k.crv,
                x: k.x,
                kid: k.kid,
                alg: k.alg,
                use_: k.use_,
            })
            .collect();
        JwksResponse::Ok(Json(JwkSetView { keys }))
    }
}
