//! The HTTP application: the OpenAPI service, Swagger UI, the SPA and the middleware stack.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use poem::middleware::{CookieJarManager, Cors};
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Route};
use poem_openapi::OpenApiService;

use crate::client::ProxyTrust;
use crate::cookies::CookieFactory;
use crate::endpoints;
use crate::endpoints::admin::AdminApi;
use crate::endpoints::auth::AuthApi;
use crate::endpoints::keys::KeysApi;
use crate::endpoints::me::MeApi;
use crate::endpoints::mfa::MfaApi;
use crate::endpoints::passkeys::{PasskeyLoginApi, PasskeysApi};
use crate::endpoints::recovery::RecoveryApi;
use crate::endpoints::sessions::SessionsApi;
use crate::endpoints::system::SystemApi;
use crate::middleware::{header_limits, request_context, request_guard, security_headers};
use crate::problem::documented::{Declared, document_problems};
use crate::problem::{AllowedMethods, catch_all};
use crate::rate_limit::{IpRateLimits, rate_limit};
use crate::spa;
use crate::state::SharedState;

type Apis = (
    AuthApi,
    PasskeyLoginApi,
    RecoveryApi,
    MfaApi,
    MeApi,
    PasskeysApi,
    SessionsApi,
    AdminApi,
    KeysApi,
    SystemApi,
);

/// The problems each operation's handler returns, one table per endpoint module (beside its
/// handlers); the rest is derived by rule (`problem::documented`). An API added to [`Apis`] adds
/// its module's table here.
const DECLARED: &[Declared] = &[
    endpoints::auth::PROBLEMS,
    endpoints::recovery::PROBLEMS,
    endpoints::mfa::PROBLEMS,
    endpoints::me::PROBLEMS,
    endpoints::passkeys::PROBLEMS,
    endpoints::sessions::PROBLEMS,
    endpoints::admin::PROBLEMS,
    endpoints::keys::PROBLEMS,
    endpoints::system::PROBLEMS,
];

const DESCRIPTION: &str = "Tessera: short-lived JWT access tokens and rotating refresh tokens in \
HttpOnly cookies for single-page apps, or in response bodies and `Authorization: Bearer` for other \
clients (log in with `token_delivery: body`).\n\nErrors are RFC 9457 problem documents \
(`application/problem+json`) with a stable `code`. Cookie-authenticated unsafe requests need \
`X-CSRF-Token` equal to the `__Host-csrf` cookie.";

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            AuthApi,
            PasskeyLoginApi,
            RecoveryApi,
            MfaApi,
            MeApi,
            PasskeysApi,
            SessionsApi,
            AdminApi,
            KeysApi,
            SystemApi,
        ),
        "Tessera",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .license("Apache-2.0")
}

/// The spec exactly as served at /api/openapi.json, shown by Swagger UI and committed as
/// openapi/openapi.json: poem-openapi's, with each operation's problem responses written in.
pub fn spec_json() -> String {
    documented_spec().0
}

/// The spec, and the mistakes in the problem declarations (a test keeps them at none).
fn documented_spec() -> (String, Vec<String>) {
    let generated = api_service().spec();
    let mut spec: serde_json::Value = match serde_json::from_str(&generated) {
        Ok(spec) => spec,
        Err(err) => return (generated, vec![format!("poem-openapi's spec is not JSON: {err}")]),
    };
    let mistakes = document_problems(&mut spec, DECLARED);
    let mut text = serde_json::to_string_pretty(&spec).unwrap_or(generated);
    text.push('\n');
    (text, mistakes)
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
            let html = page.get_or_init(|| Bytes::from(swagger_ui_html()));
            poem::Response::builder()
                .content_type("text/html; charset=utf-8")
                .body(poem::Body::from_bytes(html.clone()))
        }),
    )
}

/// poem-openapi's Swagger UI page inlines the spec it generated, which lacks the problem
/// responses: it gets [`spec_json`] in its place.
fn swagger_ui_html() -> String {
    let service = api_service();
    service
        .swagger_ui_html()
        .replacen(service.spec().as_str(), spec_json().trim_end(), 1)
}

pub fn router(state: SharedState) -> impl Endpoint {
    let api = api_service();
    let docs = swagger_ui();
    let spec = spec_json();
    let data = RequestData::new(state.clone(), &spec);
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
        .around(move |next, mut req| {
            data.attach(&mut req);
            async move { next.call(req).await.map(IntoResponse::into_response) }
        })
        .into_endpoint()
}

/// What the layers and handlers read from the request, attached in one layer. Each part is its
/// own piece of request data, so a layer takes what it needs and no more (the rate limiter does
/// not see the state, the problem layer does not see the routes it is handed the table of).
struct RequestData {
    state: SharedState,
    /// The `Allow` header of 405s, from the operations served.
    allowed: AllowedMethods,
    /// Whose forwarding headers to believe (client addresses, rate limits).
    proxy_trust: ProxyTrust,
    rate_limits: Arc<IpRateLimits>,
    cookies: CookieFactory,
}

impl RequestData {
    fn new(state: SharedState, spec: &str) -> RequestData {
        RequestData {
            allowed: AllowedMethods::from_spec(spec),
            proxy_trust: ProxyTrust::from_config(&state.config),
            rate_limits: state.rate_limits.clone(),
            cookies: state.cookies.clone(),
            state,
        }
    }

    fn attach(&self, req: &mut poem::Request) {
        let extensions = req.extensions_mut();
        extensions.insert(self.allowed.clone());
        extensions.insert(self.proxy_trust.clone());
        extensions.insert(self.rate_limits.clone());
        extensions.insert(self.cookies.clone());
        extensions.insert(self.state.clone());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_declares_its_problems() {
        let (_, mistakes) = documented_spec();
        assert!(mistakes.is_empty(), "{mistakes:#?}");
    }

    #[test]
    fn swagger_ui_shows_the_documented_spec() {
        let html = swagger_ui_html();
        assert!(html.contains(spec_json().trim_end()));
        assert!(html.contains("\"email_taken\""), "the problem examples are in the page");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let table = AllowedMethods::from_spec(&spec_json());
        assert_eq!(table.for_path("/api/me").as_deref(), Some("DELETE, GET, PATCH, HEAD"));
        assert_eq!(table.for_path("/api/auth/login").as_deref(), Some("POST"));
        let id = "/api/admin/users/0194f4a2-0000-7000-8000-000000000000";
        assert_eq!(table.for_path(id).as_deref(), Some("PATCH"));
        assert_eq!(table.for_path("/api/nope"), None);
    }
}
