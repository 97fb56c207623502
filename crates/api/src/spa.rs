//! The single-page app (frontend/, built into frontend/dist by `make spa`).
//!
//! Release builds embed frontend/dist into the binary (rust-embed); debug builds read it from the
//! source tree at run time, so a rebuilt SPA shows without recompiling. Serving rules:
//! - `/assets/*` are content-hashed by Vite: `Cache-Control: public, max-age=31536000, immutable`;
//!   a missing one is a 404 (never index.html, which a browser would try to run as a script);
//! - any other existing file (favicon) and index.html: `no-cache` (revalidate with the ETag);
//! - any other GET/HEAD outside /api and /.well-known is a client-side route: index.html;
//! - when the SPA was never built (a fresh clone before `make spa`), a small static page says so;
//! - `/favicon.ico` is always served (compiled in, even without the SPA: browsers ask for it on
//!   every page, Swagger UI's included);
//! - `TESSERA_SERVE_SPA=false` (an app that brings its own front end): nothing but the favicon is
//!   served from here, and every path outside /api and /.well-known, `/` included, is a 404
//!   problem document like any unknown API path.
//!
//! HTML responses get the strict CSP from `middleware::security_headers`; the built index.html
//! holds no inline script or style (frontend/scripts/check-dist.mjs fails the build otherwise).

use std::borrow::Cow;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use rust_embed::{Embed, EmbeddedFile};

use crate::state::SharedState;

#[derive(Embed)]
#[folder = "../../frontend/dist"]
#[allow_missing = true]
struct Assets;

/// Made from frontend/public/favicon.svg by assets/make_favicon.py.
const FAVICON_ICO: &[u8] = include_bytes!("../assets/favicon.ico");

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera</title>
</head>
<body>
<main>
<h1>Tessera</h1>
<p>The authentication API is running, but the web app has not been built into this binary.</p>
<p>Build it with <code>make spa</code> (runs <code>npm ci</code> and <code>npm run build</code> in
<code>frontend/</code>), then rebuild or restart the server.</p>
<ul>
<li><a href="/api/docs">API documentation (Swagger UI)</a></li>
<li><a href="/api/openapi.json">OpenAPI specification</a></li>
<li><a href="/api/health">Health</a></li>
</ul>
</main>
</body>
</html>
"#;

/// Routes `/api/*` and `/.well-known/*` to the API (whose unknown paths get a problem 404) and
/// every other GET/HEAD to the SPA, so client-side routes survive a reload. With the SPA turned
/// off (`TESSERA_SERVE_SPA=false`) everything but the favicon goes to the API.
pub async fn or_api<E: Endpoint>(api: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    let is_api = path == "/api" || path.starts_with("/api/") || path.starts_with("/.well-known/");
    if is_api || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return api.call(req).await.map(IntoResponse::into_response);
    }
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if path == "/favicon.ico" {
        return Ok(favicon(if_none_match.as_deref()));
    }
    let serve_spa = req.data::<SharedState>().is_none_or(|state| state.config.serve_spa);
    if !serve_spa {
        return api.call(req).await.map(IntoResponse::into_response);
    }
    Ok(serve(path, if_none_match.as_deref()))
}

fn favicon(if_none_match: Option<&str>) -> Response {
    static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let etag = ETAG.get_or_init(|| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(FAVICON_ICO);
        format!("\"{}\"", hex::encode(digest.get(..16).unwrap_or_default()))
    });
    cached_response(
        "image/x-icon",
        etag,
        "public, max-age=86400",
        FAVICON_ICO.to_vec(),
        if_none_match,
    )
}

fn serve(path: &str, if_none_match: Option<&str>) -> Response {
    let relative = path.trim_start_matches('/');
    if let Some(name) = asset_name(relative) {
        if let Some(file) = Assets::get(name) {
            let cache = if name.starts_with("assets/") {
                IMMUTABLE
            } else {
                REVALIDATE
            };
            return file_response(name, &file, cache, if_none_match);
        }
        // A hashed asset or any other file name that does not exist: a plain 404. Falling back
        // to index.html would hand HTML to a <script> or <link>.
        // index.html itself falls through to the page below (or the not-built page).
        if name != "index.html" && (name.starts_with("assets/") || last_segment_has_extension(name)) {
            return not_found();
        }
    }
    match Assets::get("index.html") {
        Some(index) => file_response("index.html", &index, REVALIDATE, if_none_match),
        None => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, REVALIDATE)
            .body(NOT_BUILT),
    }
}

/// The embedded file a request path may name: plain relative segments only (no `..`, no hidden
/// files, no backslashes or percent-escapes), never a directory.
fn asset_name(relative: &str) -> Option<&str> {
    if relative.is_empty() || relative.ends_with('/') {
        return None;
    }
    let clean = relative.split('/').all(|segment| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    });
    clean.then_some(relative)
}

fn last_segment_has_extension(name: &str) -> bool {
    name.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

fn content_type(name: &str, file: &EmbeddedFile) -> Cow<'static, str> {
    let mime = file.metadata.mimetype();
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    match (name.rsplit('.').next(), textual) {
        (Some("js" | "mjs"), _) => Cow::Borrowed("text/javascript; charset=utf-8"),
        (_, true) if !mime.contains("charset") => Cow::Owned(format!("{mime}; charset=utf-8")),
        _ => Cow::Owned(mime.to_owned()),
    }
}

fn file_response(name: &str, file: &EmbeddedFile, cache: &'static str, if_none_match: Option<&str>) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    cached_response(
        &content_type(name, file),
        &etag,
        cache,
        file.data.clone().into_owned(),
        if_none_match,
    )
}

fn cached_response(
    content_type: &str,
    etag: &str,
    cache: &'static str,
    body: Vec<u8>,
    if_none_match: Option<&str>,
) -> Response {
    let matches = if_none_match.is_some_and(|candidates| {
        candidates
            .split(',')
            .map(|c| c.trim().trim_start_matches("W/"))
            .any(|c| c == etag || c == "*")
    });
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::CONTENT_TYPE, content_type);
    if let Ok(value) = HeaderValue::from_str(etag) {
        builder = builder.header(header::ETAG, value);
    }
    if matches {
        return builder.status(StatusCode::NOT_MODIFIED).body(());
    }
    builder.status(StatusCode::OK).body(body)
}

fn not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, REVALIDATE)
        .body("not found\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_plain_relative_paths() {
        assert_eq!(asset_name("assets/index-abc123.js"), Some("assets/index-abc123.js"));
        assert_eq!(asset_name("favicon.svg"), Some("favicon.svg"));
        assert_eq!(asset_name("profile"), Some("profile"));
        for bad in [
            "",
            "assets/",
            "../Cargo.toml",
            "assets/../../secret",
            ".env",
            "assets/.hidden",
            "a//b",
            "a\\b",
            "%2e%2e/x",
        ] {
            assert_eq!(asset_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_routes_get_index_html_and_missing_files_404() {
        let route = serve("/sessions", None);
        assert_eq!(route.status(), StatusCode::OK);
        assert_eq!(route.headers().get(header::CACHE_CONTROL).unwrap(), REVALIDATE);
        assert!(
            route
                .headers()
                .get(header::CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(
            serve("/assets/missing-deadbeef.js", None).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(serve("/missing.png", None).status(), StatusCode::NOT_FOUND);
        // Built or not (a fresh clone has no frontend/dist), /index.html is a page, never a 404.
        assert_eq!(serve("/index.html", None).status(), StatusCode::OK);
        assert_eq!(
            serve("/../Cargo.toml", None).status(),
            StatusCode::OK,
            "index.html, not the file"
        );
    }

    #[test]
    fn the_favicon_is_an_icon_and_revalidates() {
        let icon = favicon(None);
        assert_eq!(icon.status(), StatusCode::OK);
        assert_eq!(icon.headers().get(header::CONTENT_TYPE).unwrap(), "image/x-icon");
        let etag = icon.headers().get(header::ETAG).unwrap().to_str().unwrap().to_owned();
        assert_eq!(favicon(Some(&etag)).status(), StatusCode::NOT_MODIFIED);
        // An ICO header: reserved 0, type 1 (icon), two images.
        assert_eq!(FAVICON_ICO.get(..6), Some(&[0u8, 0, 1, 0, 2, 0][..]));
    }

    #[test]
    fn built_assets_are_immutable_and_revalidated_by_etag() {
        let Some(name) = Assets::iter().find(|n| n.starts_with("assets/") && n.ends_with(".js")) else {
            // frontend/dist not built (fresh clone): the fallback page is covered above.
            return;
        };
        let response = serve(&format!("/{name}"), None);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers().get(header::CACHE_CONTROL).unwrap(), IMMUTABLE);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/javascript; charset=utf-8"
        );
        let etag = response
            .headers()
            .get(header::ETAG)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let again = serve(&format!("/{name}"), Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

        let index = serve("/", None);
        assert_eq!(index.headers().get(header::CACHE_CONTROL).unwrap(), REVALIDATE);
    }
}
