//! GET /.well-known/jwks.json, cacheable: `Cache-Control: public, max-age=…` and a strong `ETag`
//! (`If-None-Match` answers 304).
//!
//! How long a copy may be cached follows from how keys rotate here (docs/integrating.md, "Caching
//! the JWKS"): `tessera keys rotate` makes the new key sign at once (no pre-publication) and keeps
//! the previous key in the set for the access TTL + leeway, until every token it signed has
//! expired. So a cached set can never lack a key an unexpired token needs *except* the newest
//! one, which verifiers fetch again on an unknown `kid`; and a cached set keeps trusting a
//! retired key for at most max-age beyond that overlap. The max-age is therefore bounded by the
//! overlap (the access TTL) and capped at [`MAX_AGE_CAP_SECS`], which bounds how long an HTTP
//! cache between a verifier and Tessera can keep answering a re-fetch without the new key.

use poem::http::header;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sha2::{Digest, Sha256};

use super::ApiTags;
use crate::problem::documented::Declared;
use crate::state::SharedState;

/// The longest max-age the JWKS is ever sent with, whatever the access TTL.
pub const MAX_AGE_CAP_SECS: i64 = 300;

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
    Ok(
        Json<JwkSetView>,
        /// A strong validator of this key set: send it back in `If-None-Match`.
        #[oai(header = "ETag")]
        String,
        /// `public, max-age=N`: N is the access-token lifetime, at most 300 seconds.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// The key set is the one named in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        /// The key set's validator.
        #[oai(header = "ETag")]
        String,
        /// As on 200.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// `max-age` in seconds for an access-token lifetime: no longer than the rotation overlap (the
/// access TTL; see the module docs), at most [`MAX_AGE_CAP_SECS`].
pub fn max_age_secs(access_ttl: time::Duration) -> i64 {
    access_ttl.whole_seconds().clamp(0, MAX_AGE_CAP_SECS)
}

/// The strong entity tag of a serialised key set: 128 bits of its SHA-256.
fn entity_tag(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    format!("\"{}\"", hex::encode(digest.get(..16).unwrap_or_default()))
}

/// Whether `If-None-Match` (every header line, comma-separated lists, `*`) names `etag`. RFC 9110
/// §13.1.2: the weak comparison, so `W/"x"` matches `"x"`.
fn none_match(req: &poem::Request, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|candidate| candidate.trim())
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

/// The problems these handlers return themselves, by operation id (input, authentication,
/// origin, rate-limit and header problems are added by rule: `problem::documented`).
pub const PROBLEMS: Declared = &[
    // The key ring in memory: no failure of its own.
    ("jwks", &[]),
];

pub struct KeysApi;

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// Public verification keys.
    ///
    /// Cacheable for `max-age` seconds (at most the access-token lifetime, never more than five
    /// minutes); revalidate with `If-None-Match`. Fetch again at once when a token names a `kid`
    /// that is not in your copy: a new key signs as soon as it is rotated in.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: poem::web::Data<&SharedState>, req: &poem::Request) -> JwksResponse {
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
        let set = JwkSetView { keys };
        // Json<T> renders `to_json()` with serde_json, the same bytes as this string.
        let etag = entity_tag(&set.to_json_string());
        let cache_control = format!("public, max-age={}", max_age_secs(state.config.access_ttl));
        if none_match(req, &etag) {
            return JwksResponse::NotModified(etag, cache_control);
        }
        JwksResponse::Ok(Json(set), etag, cache_control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_the_access_ttl_capped_at_five_minutes() {
        assert_eq!(max_age_secs(time::Duration::minutes(10)), 300);
        assert_eq!(max_age_secs(time::Duration::seconds(90)), 90);
        assert_eq!(max_age_secs(time::Duration::hours(12)), 300);
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison_over_lists() {
        let etag = entity_tag("{\"keys\":[]}");
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34);
        let request = |values: &[&str]| {
            let mut builder = poem::Request::builder();
            for value in values {
                builder = builder.header(header::IF_NONE_MATCH, *value);
            }
            builder.finish()
        };
        assert!(none_match(&request(&[&etag]), &etag));
        assert!(none_match(&request(&[&format!("W/{etag}")]), &etag));
        assert!(none_match(&request(&[&format!("\"other\", {etag}")]), &etag));
        assert!(none_match(&request(&["\"other\"", &etag]), &etag));
        assert!(none_match(&request(&["*"]), &etag));
        assert!(!none_match(&request(&["\"other\""]), &etag));
        assert!(!none_match(&request(&[]), &etag));
        assert!(
            !none_match(&request(&[etag.trim_matches('"')]), &etag),
            "unquoted is not a match"
        );
    }
}
