//! Cross-cutting HTTP concerns, each its own function-middleware:
//! request ids and access logs, the unsafe-request guard (origin, fetch metadata, JSON bodies,
//! body size) and the security headers on every response.

use std::time::Instant;

use poem::http::{HeaderValue, Method, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use crate::auth::is_unsafe;
use crate::duplicate_keys::{self, Scan};
use crate::problem::{ApiError, MAX_BODY_BYTES};
use crate::state::SharedState;

/// Gives each request an id (echoed in `X-Request-Id`) and logs one line per request: method,
/// path without the query string (a token might hide there), status and latency.
pub async fn request_context<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", id = %request_id, %method, %path);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let mut response = match result {
        Ok(resp) => resp.into_response(),
        Err(err) => crate::problem::from_poem_error(&err).into_response(),
    };
    let _entered = span.enter();
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros();
    if status >= 500 {
        tracing::error!(status, micros, "request failed");
    } else {
        tracing::info!(status, micros, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}

fn is_json(req: &Request) -> bool {
    req.content_type()
        .and_then(|ct| ct.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Refuses cross-site unsafe requests before any handler runs:
/// - `Sec-Fetch-Site: cross-site` (browsers send it on every request);
/// - an `Origin` other than the public origin or a configured allowed origin;
/// - a non-empty body that is not JSON (HTML forms cannot send `application/json` cross-site
///   without a CORS preflight, so this also protects login and register);
///   and any body over [`MAX_BODY_BYTES`], and any JSON body with a duplicate key (400
///   `validation_failed`, whatever the method or endpoint).
pub async fn request_guard<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let state = req.data::<SharedState>().cloned().ok_or_else(ApiError::internal)?;
    if is_unsafe(req.method()) {
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if cross_site {
            return Err(ApiError::csrf_failed("cross-site request refused").into());
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            let config = &state.config;
            if origin != config.public_origin && !config.allowed_origins.contains(&origin) {
                let shown: String = origin.chars().take(200).collect();
                return Err(ApiError::foreign_origin(&shown, &config.public_origin).into());
            }
        }
    }

    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > DRAIN_CAP) {
        return Err(ApiError::payload_too_large().into());
    }
    let body = read_limited(req.take_body()).await?;
    if !body.is_empty() && is_unsafe(req.method()) && !is_json(&req) {
        return Err(ApiError::csrf_failed("request body must be application/json").into());
    }
    // Every JSON body, in one place: a key twice in one object is refused (see `duplicate_keys`).
    if is_json(&req)
        && !body.iter().all(u8::is_ascii_whitespace)
        && let Scan::Duplicate(key) = duplicate_keys::scan(&body)
    {
        return Err(
            ApiError::validation(format!("request body has the key {key:?} more than once in one object")).into(),
        );
    }
    req.set_body(body);
    next.call(req).await.map(IntoResponse::into_response)
}

/// Request headers above either limit are refused with 431 (see [`header_limits`]). Generous for
/// cookie-heavy sites (twice nginx's default of 4 × 8 KiB), and hyper's default field count.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
pub const MAX_HEADER_FIELDS: usize = 100;

/// Refuses a request whose header section is over [`MAX_HEADER_BYTES`] (names, values and their
/// separators) or has more than [`MAX_HEADER_FIELDS`] fields: 431
/// `request_header_fields_too_large`, a problem document with the usual headers like every other
/// error. (hyper's own limits are set higher in `connections`, so such requests get here rather
/// than hyper's bare 431.) Runs before cookies are parsed.
pub async fn header_limits<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADER_FIELDS || bytes > MAX_HEADER_BYTES {
        return Ok(ApiError::request_header_fields_too_large().into_response());
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Oversized bodies up to this size are read and discarded before the 413 is sent, so the client
/// finishes its upload and sees the answer instead of a reset connection. Larger ones are cut off.
const DRAIN_CAP: u64 = 1024 * 1024;

/// The body if it is at most [`MAX_BODY_BYTES`]; otherwise 413 (after draining up to [`DRAIN_CAP`]).
async fn read_limited(body: poem::Body) -> Result<Vec<u8>, ApiError> {
    use tokio::io::AsyncReadExt;
    let mut reader = body.into_async_read();
    let mut kept = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut total: u64 = 0;
    loop {
        let read = reader
            .read(&mut chunk)
            .await
            .map_err(|_| ApiError::validation("request body could not be read"))?;
        if read == 0 {
            break;
        }
        total += read as u64;
        if total <= MAX_BODY_BYTES as u64 {
            kept.extend_from_slice(chunk.get(..read).unwrap_or_default());
        } else if total > DRAIN_CAP {
            break;
        }
    }
    if total > MAX_BODY_BYTES as u64 {
        return Err(ApiError::payload_too_large());
    }
    Ok(kept)
}

/// `Vary: Origin` on every response whose content depends on the request's `Origin`, so no cache
/// (the browser's, a CDN's) serves one origin's answer to another:
/// - with CORS on (`TESSERA_ALLOWED_ORIGINS`), every response: the CORS headers are granted to
///   some origins and not to others (or to requests without one), on API answers, JWKS and
///   assets cached for a year alike; preflights also vary with the requested method and headers;
/// - always, unsafe requests: the origin check refuses foreign origins.
///
/// Values already present are kept; `*` already says everything.
fn vary_on_origin(headers: &mut poem::http::HeaderMap, method: &Method, cors: bool) {
    let mut names: Vec<&'static str> = Vec::new();
    if cors || is_unsafe(method) {
        names.push("Origin");
    }
    if cors && *method == Method::OPTIONS {
        names.extend(["Access-Control-Request-Method", "Access-Control-Request-Headers"]);
    }
    if names.is_empty() {
        return;
    }
    let present: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
        .collect();
    if present.iter().any(|token| token == "*") {
        return;
    }
    let mut tokens = present.clone();
    for name in names {
        if !present.iter().any(|token| token.eq_ignore_ascii_case(name)) {
            tokens.push(name.to_owned());
        }
    }
    if tokens.len() == present.len() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&tokens.join(", ")) {
        headers.insert(header::VARY, value);
    }
}

/// Policy for the SPA and any other HTML: no inline script, nothing from other origins.
const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Swagger UI's page is generated with inline script and styles; it gets its own, looser policy
/// that still allows nothing from other origins.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response carries (DESIGN.md "Headers"), and `Vary` wherever the answer depends
/// on `Origin` (see [`vary_on_origin`]).
pub async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let secure = req.data::<SharedState>().is_some_and(|s| s.config.cookie_secure);
    let cors = req
        .data::<SharedState>()
        .is_some_and(|s| !s.config.allowed_origins.is_empty());
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    // Errors from inner layers (CORS refusals, say) get the headers too.
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => crate::problem::from_poem_error(&err).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.remove(header::SERVER);
    if secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if is_html {
        let csp = if path.starts_with("/api/docs") {
            DOCS_CSP
        } else {
            HTML_CSP
        };
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    }
    vary_on_origin(headers, &method, cors);
    // Everything under /api is per-user or auth state: never cache it. (Static SPA assets set
    // their own caching.)
    if path.starts_with("/api/") && method != Method::OPTIONS {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary_after(existing: &[&str], method: Method, cors: bool) -> Vec<String> {
        let mut headers = poem::http::HeaderMap::new();
        for value in existing {
            headers.append(header::VARY, HeaderValue::from_str(value).unwrap());
        }
        vary_on_origin(&mut headers, &method, cors);
        headers
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn vary_is_added_once_and_merged() {
        assert_eq!(vary_after(&[], Method::GET, true), ["Origin"]);
        assert_eq!(vary_after(&[], Method::GET, false), Vec::<String>::new());
        assert_eq!(vary_after(&[], Method::POST, false), ["Origin"]);
        assert_eq!(vary_after(&["origin"], Method::GET, true), ["origin"]);
        assert_eq!(
            vary_after(&["Accept-Encoding", "Cookie"], Method::GET, true),
            ["Accept-Encoding, Cookie, Origin"]
        );
        assert_eq!(vary_after(&["*"], Method::GET, true), ["*"]);
        assert_eq!(
            vary_after(&["Origin"], Method::OPTIONS, true),
            ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
        );
    }
}
