//! The HTTP application: the OpenAPI service, Swagger UI, the SPA and the middleware stack.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use poem::middleware::{CookieJarManager, Cors};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Route};
use poem_openapi::OpenApiService;

use crate::endpoints::admin::AdminApi;
use crate::endpoints::auth::AuthApi;
use crate::endpoints::keys::KeysApi;
use crate::endpoints::me::MeApi;
use crate::endpoints::sessions::SessionsApi;
use crate::endpoints::system::SystemApi;
use crate::middleware::{header_limits, request_context, request_guard, security_headers};
use crate::problem::catch_all;
use crate::rate_limit::rate_limit;
use crate::spa;
use crate::state::SharedState;

type Apis = (AuthApi, MeApi, SessionsApi, AdminApi, KeysApi, SystemApi);

const DESCRIPTION: &str = "Tessera: short-lived JWT access tokens and rotating refresh tokens in \
HttpOnly cookies for single-page apps, or in response bodies and `Authorization: Bearer` for other \
clients (log in with `token_delivery: body`).\n\nErrors are RFC 9457 problem documents \
(`application/problem+json`) with a stable `code`. Cookie-authenticated unsafe requests need \
`X-CSRF-Token` equal to the `__Host-csrf` cookie.";

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (AuthApi, MeApi, SessionsApi, AdminApi, KeysApi, SystemApi),
        "Tessera",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .license("Apache-2.0")
}

/// The spec exactly as served at /api/openapi.json (and committed as openapi/openapi.json).
pub fn spec_json() -> String {
    let mut spec = api_service().spec();
    if !spec.ends_with('\n') {
        spec.push('\n');
    }
    spec
}

/// Swagger UI, built on the first visit. The page inlines the 1.6 MB swagger-ui bundle and the
/// spec; building it at start-up cost every instance ~5 MiB of memory and some milliseconds of
/// start-up whether anyone opened the docs or not. Served from one shared buffer, not copied per
/// request.
fn swagger_ui() -> impl Endpoint {
    let page: Arc<OnceLock<Bytes>> = Arc::default();
    Route::new().at(
        "/",
        poem::endpoint::make_sync(move |_| {
            let html = page.get_or_init(|| Bytes::from(api_service().swagger_ui_html()));
            poem::Response::builder()
                .content_type("text/html; charset=utf-8")
                .body(poem::Body::from_bytes(html.clone()))
        }),
    )
}

pub fn router(state: SharedState) -> impl Endpoint {
    let api = api_service();
    let docs = swagger_ui();
    let spec = spec_json();
    let cors = cors(&state);
    Route::new()
        .at(
            "/api/openapi.json",
            poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            }),
        )
        .nest("/api/docs", docs)
        .nest_no_strip("/", api.around(spa::or_api))
        .around(request_guard)
        .around(rate_limit)
        .around(catch_all)
        .with(CookieJarManager::new())
        .around(header_limits)
        .with_if(cors.is_some(), cors.unwrap_or_default())
        .around(security_headers)
        .around(request_context)
        .data(state)
        .into_endpoint()
}

/// CORS only for configured extra origins, with credentials; never `*`.
fn cors(state: &SharedState) -> Option<Cors> {
    let origins = &state.config.allowed_origins;
    if origins.is_empty() {
        return None;
    }
    Some(
        Cors::new()
            .allow_origins(origins.iter().chain([&state.config.public_origin]).map(String::as_str))
            .allow_credentials(true)
            .allow_methods(["GET", "POST", "PATCH", "DELETE"])
            .allow_headers(["content-type", "x-csrf-token", "authorization"])
            .expose_headers(["x-request-id", "retry-after", "www-authenticate"])
            .max_age(600),
    )
}
