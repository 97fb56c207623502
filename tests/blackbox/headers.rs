//! Case 10: security headers, the HTML policy, the system endpoints, the spec and the docs; and the
//! insecure-cookie development mode.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;

use crate::harness::{ORIGIN, PASSWORD, Reply, TestServer, assert_problem, send_raw};

/// The directives of a Content-Security-Policy, by name.
fn csp_directive<'a>(csp: &'a str, name: &str) -> Option<&'a str> {
    csp.split(';').map(str::trim).find_map(|d| {
        d.strip_prefix(name)
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
    })
}

#[track_caller]
fn assert_strict_html(reply: &Reply) {
    assert!(
        reply.content_type().starts_with("text/html"),
        "{}",
        reply.content_type()
    );
    let csp = reply
        .header("content-security-policy")
        .expect("HTML carries a Content-Security-Policy");
    let script_src = csp_directive(csp, "script-src")
        .or_else(|| csp_directive(csp, "default-src"))
        .expect("script policy");
    assert!(!script_src.contains("'unsafe-inline'"), "inline script allowed: {csp}");
    assert!(!script_src.contains("'unsafe-eval'"), "eval allowed: {csp}");
    assert!(
        !script_src.contains('*') && !script_src.contains("http:") && !script_src.contains("https:"),
        "{csp}"
    );
    assert!(csp_directive(csp, "default-src").is_some(), "no default-src: {csp}");
    assert!(
        csp_directive(csp, "object-src").is_some_and(|v| v.contains("'none'")),
        "{csp}"
    );
    assert!(
        csp_directive(csp, "frame-ancestors").is_some_and(|v| v.contains("'none'")),
        "{csp}"
    );
}

async fn security_headers_and_system_endpoints(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;

    // A spread of responses; `send` asserts nosniff, no-referrer and DENY on each.
    let (mut browser, _) = server.register("alice@example.com").await;
    let mut replies: Vec<Reply> = vec![
        browser.me().await,
        browser.refresh().await,
        server.get("/api/me").await,
        server.get("/api/nope").await,
        server.get("/api/auth/login").await,
        server.get("/.well-known/jwks.json").await,
        server
            .post_json("/api/auth/login", &json!({"email": "x@example.com", "password": "x"}))
            .await,
        server.send(server.request(Method::OPTIONS, "/api/auth/login")).await,
        server.send(server.request(Method::HEAD, "/")).await,
    ];
    replies.push(browser.logout().await);
    for reply in &replies {
        reply.assert_invariants();
        assert!(
            reply
                .header("strict-transport-security")
                .is_some_and(|v| v.contains("max-age=")),
            "no HSTS with secure cookies"
        );
        assert!(
            reply
                .header("server")
                .is_none_or(|v| !v.to_ascii_lowercase().contains("poem")),
            "server banner"
        );
        // CORS is off unless allowed origins are configured.
        assert!(reply.header("access-control-allow-origin").is_none());
        assert!(reply.header("access-control-allow-credentials").is_none());
    }
    // A preflight from a foreign origin is not granted.
    let request = server
        .request(Method::OPTIONS, "/api/me")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "PATCH");
    let reply = server.send(request).await;
    assert!(
        reply.header("access-control-allow-origin").is_none(),
        "CORS granted to a foreign origin"
    );

    // 401s carry a Bearer challenge; with a presented token, error="invalid_token".
    let reply = server.get("/api/me").await;
    assert_problem(&reply, 401, "unauthenticated");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    let reply = server.me_bearer("a.b.c").await;
    assert_eq!(reply.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    let reply = server
        .post_json(
            "/api/auth/login",
            &json!({"email": "alice@example.com", "password": "wrong-password-here"}),
        )
        .await;
    assert_problem(&reply, 401, "invalid_credentials");
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );

    // The SPA (and its client-side routes) under a strict CSP.
    for path in ["/", "/login", "/some/client/route", "/index.html"] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_strict_html(&reply);
    }

    // System endpoints.
    let reply = server.get("/api/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");
    let reply = server.get("/api/ready").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["status"], "ready");

    // The spec: JSON, both security schemes, the problem responses.
    let reply = server.get("/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.content_type().starts_with("application/json"),
        "{}",
        reply.content_type()
    );
    let spec = reply.json();
    assert!(
        spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        spec["openapi"]
    );
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["CookieAuth"]["type"], "apiKey", "{schemes}");
    assert_eq!(schemes["CookieAuth"]["in"], "cookie");
    assert_eq!(schemes["CookieAuth"]["name"], "__Host-access");
    assert_eq!(schemes["BearerAuth"]["type"], "http", "{schemes}");
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer");
    let me = &spec["paths"]["/api/me"]["get"];
    let security = me["security"].as_array().expect("GET /api/me is secured");
    assert!(
        security.iter().any(|s| s.get("CookieAuth").is_some())
            && security.iter().any(|s| s.get("BearerAuth").is_some())
    );
    assert!(me["responses"]["401"].is_object(), "401 documented on GET /api/me");
    assert!(spec["paths"]["/api/auth/login"]["post"].is_object());
    assert!(!reply.text().contains(PASSWORD));

    // Swagger UI.
    let reply = server.get("/api/docs").await;
    let reply = if reply.status.is_redirection() {
        server.get("/api/docs/").await
    } else {
        reply
    };
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply.content_type().starts_with("text/html"),
        "{}",
        reply.content_type()
    );
    assert!(reply.text().to_ascii_lowercase().contains("swagger"));
    let csp = reply
        .header("content-security-policy")
        .expect("the docs page has its own policy");
    assert!(
        csp_directive(csp, "frame-ancestors").is_some_and(|v| v.contains("'none'")),
        "{csp}"
    );
    assert!(
        !csp.contains('*') && !csp.contains("https:"),
        "the docs page loads nothing from elsewhere: {csp}"
    );
}

/// `TESSERA_COOKIE_SECURE=false`: unprefixed names, no Secure, no HSTS; the rules otherwise hold.
async fn insecure_cookie_mode(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_COOKIE_SECURE", "false")]).await;
    let reply = server
        .post_json(
            "/api/auth/register",
            &json!({"email": "alice@example.com", "password": PASSWORD, "name": "Alice"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert!(reply.header("strict-transport-security").is_none());
    let mut names: Vec<String> = reply.set_cookies().iter().map(|c| c.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["access", "csrf", "refresh"]);
    for cookie in reply.set_cookies() {
        assert!(!cookie.has("secure"), "{}", cookie.raw);
        assert_eq!(cookie.attr("path"), Some("/"));
        assert!(
            cookie
                .attr("samesite")
                .is_some_and(|v| v.eq_ignore_ascii_case("strict"))
        );
        assert_eq!(cookie.has("httponly"), cookie.name != "csrf");
    }
    let access = reply.set_cookie("access").expect("access").value;
    let refresh = reply.set_cookie("refresh").expect("refresh").value;
    let csrf = reply.set_cookie("csrf").expect("csrf").value;
    let cookies = format!("access={access}; refresh={refresh}; csrf={csrf}");

    let reply = server
        .send(server.request(Method::GET, "/api/me").header("cookie", &cookies))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // The secure names are not accepted in this mode.
    let reply = server
        .send(
            server
                .request(Method::GET, "/api/me")
                .header("cookie", format!("__Host-access={access}")),
        )
        .await;
    assert_problem(&reply, 401, "unauthenticated");
    // CSRF still applies.
    let request = server
        .request(Method::POST, "/api/auth/refresh")
        .header("cookie", &cookies);
    assert_problem(&server.send(request).await, 403, "csrf_failed");
    let request = server
        .request(Method::POST, "/api/auth/refresh")
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf);
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.set_cookie("refresh").is_some_and(|c| c.value != refresh));
    // Logout clears the unprefixed names.
    let request = server
        .request(Method::POST, "/api/auth/logout")
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf);
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    for name in ["access", "refresh", "csrf"] {
        assert_eq!(
            reply
                .set_cookie(name)
                .and_then(|c| c.attr("max-age").map(str::to_owned))
                .as_deref(),
            Some("0"),
            "{name}"
        );
    }
}

/// `TESSERA_ALLOWED_ORIGINS`: CORS with credentials for exactly those origins, never `*`; they
/// also pass the origin check on unsafe requests, and nobody else does.
async fn cors_for_allowed_origins(db: &TestDatabase) {
    const APP: &str = "https://app.example";
    let server = TestServer::start(db, &[("TESSERA_ALLOWED_ORIGINS", APP)]).await;
    server.register("alice@example.com").await;
    let login = json!({"email": "alice@example.com", "password": PASSWORD});
    let preflight = |origin: &str| {
        server
            .request(Method::OPTIONS, "/api/me")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "content-type,x-csrf-token")
    };

    // The allowed origin: credentialed CORS naming it exactly, and it passes the origin check.
    let reply = server.send(preflight(APP)).await;
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    let methods = reply
        .header("access-control-allow-methods")
        .unwrap_or("")
        .to_ascii_uppercase();
    assert!(methods.contains("PATCH"), "{methods}");
    let headers = reply
        .header("access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(headers.contains("x-csrf-token"), "{headers}");
    let reply = server
        .send(server.request(Method::GET, "/api/health").header("origin", APP))
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    let request = server
        .request(Method::POST, "/api/auth/login")
        .header("origin", APP)
        .json(&login);
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));

    // The server's own origin keeps working when extra origins are configured: browsers send
    // `Origin` on same-origin POST/PATCH, and the SPA itself must not be refused.
    let request = server
        .request(Method::POST, "/api/auth/login")
        .header("origin", ORIGIN)
        .json(&login);
    let reply = send_raw(request).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "same-origin login with allowed origins configured: {}",
        reply.text()
    );
    reply.assert_invariants();

    // Foreign origins: no CORS grant, and the refusals are ordinary problem responses (security
    // headers; 403 `csrf_failed` for unsafe requests, DESIGN.md "CSRF and origin checks").
    let mut failures = Vec::new();
    for evil in ["https://evil.example", "https://app.example.evil.example", "null"] {
        let replies = [
            ("preflight", send_raw(preflight(evil)).await),
            (
                "GET /api/health",
                send_raw(server.request(Method::GET, "/api/health").header("origin", evil)).await,
            ),
            (
                "login",
                send_raw(
                    server
                        .request(Method::POST, "/api/auth/login")
                        .header("origin", evil)
                        .json(&login),
                )
                .await,
            ),
        ];
        for (label, reply) in &replies {
            assert!(
                reply.header("access-control-allow-origin").is_none(),
                "CORS granted to {evil}"
            );
            assert!(reply.set_cookies().is_empty(), "{label} from {evil} set cookies");
            assert!(!reply.status.is_server_error(), "{label} from {evil}: {}", reply.status);
            if reply.header("x-content-type-options") != Some("nosniff") {
                failures.push(format!(
                    "{label} from {evil}: no security headers ({} {})",
                    reply.status,
                    reply.text()
                ));
            }
        }
        let login = &replies[2].1;
        if login.status != StatusCode::FORBIDDEN || login.json()["code"] != "csrf_failed" {
            failures.push(format!(
                "login from {evil}: {} {} (expected 403 csrf_failed)",
                login.status,
                login.text()
            ));
        }
    }
    assert!(failures.is_empty(), "foreign-origin refusals:\n{}", failures.join("\n"));
}

/// `/favicon.ico` is served: an ICO, cacheable, revalidated by its ETag.
async fn assert_favicon(server: &TestServer) {
    let icon = server.get("/favicon.ico").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.content_type(), "image/x-icon");
    assert_eq!(icon.body.get(..4), Some(&[0u8, 0, 1, 0][..]), "an ICO file");
    let etag = icon.header("etag").expect("ETag").to_owned();
    let again = server
        .send(
            server
                .request(Method::GET, "/favicon.ico")
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

async fn favicon_is_served(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    assert_favicon(&server).await;
    // With the SPA on, `/` is the SPA's index.html (or the not-built page).
    let index = server.get("/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.content_type().starts_with("text/html"));
}

/// `TESSERA_SERVE_SPA=false`: an app that brings its own front end. Nothing outside /api and
/// /.well-known is served (but the favicon): `/`, client routes and asset paths are 404 problems;
/// the API, its docs and the JWKS work as before.
async fn spa_can_be_turned_off(db: &TestDatabase) {
    let server = TestServer::start(db, &[("TESSERA_SERVE_SPA", "false")]).await;
    for path in [
        "/",
        "/index.html",
        "/login",
        "/sessions",
        "/assets/index.js",
        "/favicon.svg",
    ] {
        assert_problem(&server.get(path).await, 404, "not_found");
        let head = send_raw(server.request(Method::HEAD, path)).await;
        assert_eq!(head.status, StatusCode::NOT_FOUND, "HEAD {path}");
    }
    assert_favicon(&server).await;
    assert_eq!(server.get("/api/health").await.status, StatusCode::OK);
    assert_eq!(server.get("/.well-known/jwks.json").await.status, StatusCode::OK);
    let docs = server.get("/api/docs").await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.content_type().starts_with("text/html"));
    let (mut browser, _) = server.register("alice@example.com").await;
    assert_eq!(browser.me().await.status, StatusCode::OK);
}

/// Whether `reply` says that it varies with `header` (issue 12, Low 2).
fn varies_with(reply: &Reply, header: &str) -> bool {
    reply
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case(header) || token.trim() == "*")
}

/// With CORS on, every response depends on `Origin` (it is granted to some origins and not
/// others), so every response says `Vary: Origin` — with or without an `Origin` in the request,
/// cached assets and JWKS included — or a shared cache could hand one origin's grant (or its
/// absence) to another. Preflights also vary with the requested method and headers.
async fn vary_origin_wherever_origin_matters(db: &TestDatabase) {
    const APP: &str = "https://app.example";
    let server = TestServer::start(db, &[("TESSERA_ALLOWED_ORIGINS", APP)]).await;
    let index = server.get("/").await;
    let asset = index
        .text()
        .split('"')
        .find(|piece| piece.starts_with("/assets/"))
        .map(str::to_owned);
    let mut paths = vec![
        "/".to_owned(),
        "/.well-known/jwks.json".to_owned(),
        "/api/health".to_owned(),
        "/api/me".to_owned(),
        "/api/no-such-thing".to_owned(),
    ];
    paths.extend(asset.clone());
    let mut failures = Vec::new();
    for path in &paths {
        for origin in [Some(APP), Some(ORIGIN), Some("https://evil.example"), None] {
            let mut request = server.request(Method::GET, path);
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let reply = send_raw(request).await;
            if !varies_with(&reply, "origin") {
                failures.push(format!("GET {path} with Origin {origin:?}: {:?}", reply.headers));
            }
        }
    }
    if let Some(asset) = &asset {
        let reply = send_raw(server.request(Method::GET, asset).header("origin", APP)).await;
        assert!(reply.header("cache-control").unwrap_or("").contains("immutable"));
        assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
        // A revalidation answers the same way.
        let etag = reply.header("etag").expect("etag").to_owned();
        let again = send_raw(
            server
                .request(Method::GET, asset)
                .header("origin", APP)
                .header("if-none-match", etag),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        if !varies_with(&again, "origin") {
            failures.push(format!("304 of {asset}: {:?}", again.headers));
        }
    }
    let login = json!({"email": "nobody@example.com", "password": PASSWORD});
    for origin in [APP, "https://evil.example"] {
        let reply = send_raw(
            server
                .request(Method::POST, "/api/auth/login")
                .header("origin", origin)
                .json(&login),
        )
        .await;
        if !varies_with(&reply, "origin") {
            failures.push(format!("POST login from {origin}: {:?}", reply.headers));
        }
    }
    for origin in [APP, "https://evil.example"] {
        let preflight = send_raw(
            server
                .request(Method::OPTIONS, "/api/me")
                .header("origin", origin)
                .header("access-control-request-method", "PATCH")
                .header("access-control-request-headers", "content-type"),
        )
        .await;
        for header in [
            "origin",
            "access-control-request-method",
            "access-control-request-headers",
        ] {
            if !varies_with(&preflight, header) {
                failures.push(format!(
                    "preflight from {origin} without Vary {header}: {:?}",
                    preflight.headers
                ));
            }
        }
    }
    assert!(failures.is_empty(), "responses without Vary:\n{}", failures.join("\n"));

    // CORS off: unsafe requests still depend on Origin (the origin check), reads do not.
    let master_key = server.env("TESSERA_MASTER_KEY").expect("master key").to_owned();
    let server = TestServer::start(db, &[("TESSERA_MASTER_KEY", &master_key)]).await;
    let reply = send_raw(
        server
            .request(Method::POST, "/api/auth/login")
            .header("origin", "https://evil.example")
            .json(&login),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(varies_with(&reply, "origin"), "{:?}", reply.headers);
    let reply = send_raw(server.request(Method::POST, "/api/auth/login").json(&login)).await;
    assert!(varies_with(&reply, "origin"), "{:?}", reply.headers);
    let reply = send_raw(server.request(Method::GET, "/.well-known/jwks.json")).await;
    assert!(
        !varies_with(&reply, "origin"),
        "nothing depends on Origin: {:?}",
        reply.headers
    );
}

/// Oversized request headers (issue 12, Low 9): a 431 problem document with the usual headers,
/// like every other error, not hyper's empty answer. Over a real socket, byte for byte.
async fn oversized_headers_get_a_problem_431(db: &TestDatabase) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start(db, &[]).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let raw = |extra: String| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            let head = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await.expect("send");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.expect("read");
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let many_fields: String = (0..150).map(|i| format!("X-Field-{i}: {i}\r\n")).collect();
    let cases = [
        ("150 header fields", many_fields),
        ("a 70 KiB cookie", format!("Cookie: junk={}\r\n", "a".repeat(70 * 1024))),
        ("a 500 KiB header", format!("X-Big: {}\r\n", "b".repeat(500 * 1024))),
        (
            "twenty 4 KiB cookies",
            (0..20)
                .map(|i| format!("Cookie: c{i}={}\r\n", "c".repeat(4096)))
                .collect(),
        ),
    ];
    for (label, extra) in cases {
        let answer = raw(extra).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let head_lower = head.to_ascii_lowercase();
        assert!(head.starts_with("HTTP/1.1 431"), "{label}: {head}");
        for expected in [
            "content-type: application/problem+json",
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
            "x-frame-options: deny",
            "cache-control: no-store",
            "x-request-id: ",
        ] {
            assert!(head_lower.contains(expected), "{label}: no {expected:?} in\n{head}");
        }
        let problem: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{label}: body {body:?}: {e}"));
        assert_eq!(problem["status"], 431, "{label}");
        assert_eq!(problem["code"], "request_header_fields_too_large", "{label}");
    }
    // Within the limits, large but reasonable headers are served.
    let answer = raw(format!("Cookie: fine={}\r\n", "d".repeat(48 * 1024))).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        answer.lines().next().unwrap_or("")
    );
    // And through an ordinary client, with the harness's invariants.
    let reply = server
        .send(
            server
                .request(Method::GET, "/api/me")
                .header("cookie", "x".repeat(65 * 1024)),
        )
        .await;
    assert_problem(&reply, 431, "request_header_fields_too_large");
}

tessera_store::backend_tests!(
    security_headers_and_system_endpoints,
    insecure_cookie_mode,
    cors_for_allowed_origins,
    favicon_is_served,
    spa_can_be_turned_off,
    vary_origin_wherever_origin_matters,
    oversized_headers_get_a_problem_431,
);
