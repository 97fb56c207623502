//! Property-based fuzzing of the HTTP credential parsing: arbitrary `Cookie` and `Authorization`
//! headers (mixed with genuine, mutated and re-encoded tokens) sent through the real router with
//! `poem::test::TestClient`, on a fresh SQLite database.
//!
//! Every response must be a documented shape: never a 5xx, errors as `application/problem+json`
//! whose `status` matches. And the credential rules hold: an `Authorization` header that does not
//! carry the genuine token is a 401 (never a fall back to the cookie); a cookie-authenticated
//! unsafe request succeeds only with the genuine CSRF token.
//!
//! Each case logs in afresh (argon2 is cheap here), so a case that logs out, rotates or revokes
//! its session does not change what the next case sees. Longer runs (see SECURITY.md):
//!
//! ```sh
//! PROPTEST_CASES=5000 cargo test --release -p tessera-api --test api cases::fuzz
//! ```

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use poem::endpoint::BoxEndpoint;
use poem::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use poem::http::{HeaderValue, Method};
use poem::test::TestClient;
use poem::{EndpointExt, Response};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use tessera_api::config::Config;
use tessera_auth_core::clock::SystemClock;
use tessera_auth_core::password::Argon2Params;
use tessera_store::testing::TestDatabase;
use tessera_tests::fuzz_config::cases;
use tokio::runtime::Runtime;

/// The property's user; its cases may log out everywhere, so the regression tests use their own.
const FUZZ_EMAIL: &str = "fuzz@example.com";
const REGRESSION_EMAIL: &str = "regression@example.com";
const PASSWORD: &str = "violet-Anvil-47-quietly-Orbit";
const ACCESS: &str = "__Host-access";
const REFRESH: &str = "__Host-refresh";
const CSRF: &str = "__Host-csrf";

/// One server for every case of this module: its runtime, its database (kept alive) and its
/// router.
struct Fixture {
    runtime: Runtime,
    endpoint: BoxEndpoint<'static, Response>,
    _db: TestDatabase,
    _data: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let db = TestDatabase::sqlite();
    let data = tempfile::Builder::new()
        .prefix("fuzz-data-")
        .tempdir()
        .expect("data dir");
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("TESSERA_DATA_DIR", data.path().display().to_string()),
        ("TESSERA_MASTER_KEY", "ab".repeat(32)),
        ("TESSERA_RATE_LIMIT_PER_IP", "0".to_owned()),
    ]);
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("configuration");
    let cheap = Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let endpoint = runtime.block_on(async {
        let state = tessera_api::startup::build_state_with_clock(config, Arc::new(SystemClock), cheap)
            .await
            .expect("state");
        let endpoint = tessera_api::app::router(state).map_to_response().boxed();
        let client = TestClient::new(&endpoint);
        for email in [FUZZ_EMAIL, REGRESSION_EMAIL] {
            let resp = client
                .post("/api/auth/register")
                .body_json(&json!({"email": email, "password": PASSWORD, "name": "Fuzz"}))
                .send()
                .await;
            assert_eq!(resp.0.status(), 201, "register {email}");
        }
        endpoint
    });
    Fixture {
        runtime,
        endpoint,
        _db: db,
        _data: data,
    }
});

/// Fresh credentials of one new session of each kind.
#[derive(Debug, Clone)]
struct Creds {
    access: String,
    refresh: String,
    csrf: String,
    bearer: String,
    body_refresh: String,
}

type Client = TestClient<&'static BoxEndpoint<'static, Response>>;

async fn login(client: &Client, email: &str, delivery: &str) -> (Value, HashMap<String, String>) {
    let resp = client
        .post("/api/auth/login")
        .body_json(&json!({"email": email, "password": PASSWORD, "token_delivery": delivery}))
        .send()
        .await;
    assert_eq!(resp.0.status(), 200, "login");
    let cookies = resp
        .0
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let body = resp.json().await.value().deserialize::<Value>();
    (body, cookies)
}

async fn fresh_creds(client: &Client, email: &str) -> Creds {
    let (_, cookies) = login(client, email, "cookie").await;
    let (body, _) = login(client, email, "body").await;
    let text = |v: &Value| v.as_str().expect("token string").to_owned();
    Creds {
        access: cookies[ACCESS].clone(),
        refresh: cookies[REFRESH].clone(),
        csrf: cookies[CSRF].clone(),
        bearer: text(&body["access_token"]),
        body_refresh: text(&body["refresh_token"]),
    }
}

/// A credential value as a recipe; the genuine token is filled in per case.
#[derive(Debug, Clone)]
enum Token {
    Access,
    Refresh,
    Csrf,
    Bearer,
    BodyRefresh,
}

#[derive(Debug, Clone)]
enum Value_ {
    Genuine(Token),
    /// The genuine token with one character replaced.
    Mutated(Token, Index, char),
    /// The genuine token percent-encoded or quoted (cookie syntax tricks).
    PercentEncoded(Token),
    Quoted(Token),
    /// The genuine token with a suffix or a prefix.
    Extended(Token, String, bool),
    Text(String),
}

impl Value_ {
    fn render(&self, creds: &Creds) -> String {
        let genuine = |t: &Token| match t {
            Token::Access => creds.access.clone(),
            Token::Refresh => creds.refresh.clone(),
            Token::Csrf => creds.csrf.clone(),
            Token::Bearer => creds.bearer.clone(),
            Token::BodyRefresh => creds.body_refresh.clone(),
        };
        match self {
            Value_::Genuine(t) => genuine(t),
            Value_::Mutated(t, i, c) => {
                let mut chars: Vec<char> = genuine(t).chars().collect();
                let i = i.index(chars.len());
                chars[i] = *c;
                chars.into_iter().collect()
            }
            Value_::PercentEncoded(t) => genuine(t).bytes().map(|b| format!("%{b:02X}")).collect(),
            Value_::Quoted(t) => format!("\"{}\"", genuine(t)),
            Value_::Extended(t, extra, prefix) => {
                if *prefix {
                    format!("{extra}{}", genuine(t))
                } else {
                    format!("{}{extra}", genuine(t))
                }
            }
            Value_::Text(s) => s.clone(),
        }
    }
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![
        Just(Token::Access),
        Just(Token::Refresh),
        Just(Token::Csrf),
        Just(Token::Bearer),
        Just(Token::BodyRefresh),
    ]
}

/// Printable ASCII and the characters that matter to cookie and header syntax.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        "[A-Za-z0-9_.=;,\" %-]{0,80}",
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn value() -> impl Strategy<Value = Value_> {
    let ch = prop_oneof![
        proptest::sample::select(vec!['A', 'a', '0', '-', '_', '.', '=', ';', ' ', '"', '%', ',']),
        any::<char>(),
    ];
    prop_oneof![
        3 => token().prop_map(Value_::Genuine),
        3 => (token(), any::<Index>(), ch).prop_map(|(t, i, c)| Value_::Mutated(t, i, c)),
        1 => token().prop_map(Value_::PercentEncoded),
        1 => token().prop_map(Value_::Quoted),
        1 => (token(), "[ -~]{1,4}", any::<bool>()).prop_map(|(t, s, p)| Value_::Extended(t, s, p)),
        2 => header_text().prop_map(Value_::Text),
    ]
}

/// One `name=value` pair of a Cookie header, or raw text.
#[derive(Debug, Clone)]
enum CookiePart {
    Pair(String, Value_),
    Raw(String),
}

fn cookie_part() -> impl Strategy<Value = CookiePart> {
    let name = prop_oneof![
        4 => proptest::sample::select(vec![ACCESS, REFRESH, CSRF, "access", "refresh", "csrf", "__Host-ACCESS", " __Host-access", "__Secure-access"]).prop_map(str::to_owned),
        1 => "[!-~]{0,12}",
    ];
    prop_oneof![
        5 => (name, value()).prop_map(|(n, v)| CookiePart::Pair(n, v)),
        1 => header_text().prop_map(CookiePart::Raw),
    ]
}

#[derive(Debug, Clone)]
struct CookieHeader {
    parts: Vec<CookiePart>,
    separator: &'static str,
}

fn cookie_header() -> impl Strategy<Value = CookieHeader> {
    (
        proptest::collection::vec(cookie_part(), 0..6),
        proptest::sample::select(vec!["; ", ";", " ; ", ",", "; ;", ";\t"]),
    )
        .prop_map(|(parts, separator)| CookieHeader { parts, separator })
}

impl CookieHeader {
    fn render(&self, creds: &Creds) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                CookiePart::Pair(name, value) => format!("{name}={}", value.render(creds)),
                CookiePart::Raw(text) => text.clone(),
            })
            .collect::<Vec<_>>()
            .join(self.separator)
    }
}

/// An `Authorization` header: a scheme, separators and a credential.
#[derive(Debug, Clone)]
enum AuthHeader {
    Scheme(&'static str, &'static str, Value_, &'static str),
    Raw(String),
}

fn auth_header() -> impl Strategy<Value = AuthHeader> {
    let scheme = proptest::sample::select(vec![
        "Bearer", "bearer", "BEARER", "Basic", "Token", "Bearer,", "", "DPoP",
    ]);
    let gap = proptest::sample::select(vec![" ", "  ", "\t", "", " Bearer "]);
    let tail = proptest::sample::select(vec!["", " ", " x", ", Basic abc", "\t"]);
    prop_oneof![
        5 => (scheme, gap, value(), tail).prop_map(|(s, g, v, t)| AuthHeader::Scheme(s, g, v, t)),
        1 => header_text().prop_map(AuthHeader::Raw),
    ]
}

impl AuthHeader {
    fn render(&self, creds: &Creds) -> String {
        match self {
            AuthHeader::Scheme(scheme, gap, value, tail) => format!("{scheme}{gap}{}{tail}", value.render(creds)),
            AuthHeader::Raw(text) => text.clone(),
        }
    }
}

/// The operations the fuzzed credentials are sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    GetMe,
    PatchMe,
    GetSessions,
    GetEvents,
    Refresh,
    Logout,
    LogoutAll,
    DeleteSession,
}

fn target() -> impl Strategy<Value = Target> {
    proptest::sample::select(vec![
        Target::GetMe,
        Target::PatchMe,
        Target::GetSessions,
        Target::GetEvents,
        Target::Refresh,
        Target::Logout,
        Target::LogoutAll,
        Target::DeleteSession,
    ])
}

impl Target {
    fn method_and_path(self) -> (Method, &'static str) {
        match self {
            Target::GetMe => (Method::GET, "/api/me"),
            Target::PatchMe => (Method::PATCH, "/api/me"),
            Target::GetSessions => (Method::GET, "/api/sessions"),
            Target::GetEvents => (Method::GET, "/api/me/events"),
            Target::Refresh => (Method::POST, "/api/auth/refresh"),
            Target::Logout => (Method::POST, "/api/auth/logout"),
            Target::LogoutAll => (Method::POST, "/api/auth/logout-all"),
            Target::DeleteSession => (Method::DELETE, "/api/sessions/0190b5a5-1f7e-7000-8000-000000000000"),
        }
    }
}

/// A whole request recipe.
#[derive(Debug, Clone)]
struct Fuzzed {
    target: Target,
    cookie: Option<CookieHeader>,
    /// Sent as a second Cookie header (browsers send one; proxies may split).
    second_cookie: Option<CookieHeader>,
    authorization: Option<AuthHeader>,
    csrf_header: Option<Value_>,
    /// `{"refresh_token": ...}` for refresh/logout.
    body_refresh: Option<Value_>,
}

fn fuzzed() -> impl Strategy<Value = Fuzzed> {
    (
        target(),
        proptest::option::weighted(0.9, cookie_header()),
        proptest::option::weighted(0.1, cookie_header()),
        proptest::option::weighted(0.3, auth_header()),
        proptest::option::weighted(0.6, value()),
        proptest::option::weighted(0.2, value()),
    )
        .prop_map(
            |(target, cookie, second_cookie, authorization, csrf_header, body_refresh)| Fuzzed {
                target,
                cookie,
                second_cookie,
                authorization,
                csrf_header,
                body_refresh,
            },
        )
}

/// What one request carried, as the server saw it (header values it could not represent dropped).
#[derive(Debug)]
struct Sent {
    cookies: Vec<String>,
    authorization: Option<HeaderValue>,
    csrf: Option<HeaderValue>,
}

/// Sends the request; returns what was sent, the status, the content type and the JSON body.
fn send(recipe: &Fuzzed) -> (Creds, Sent, u16, Option<String>, bool, Value) {
    let fixture = &*FIXTURE;
    fixture.runtime.block_on(async {
        let client = TestClient::new(&fixture.endpoint);
        let creds = fresh_creds(&client, FUZZ_EMAIL).await;
        let header = |text: String| HeaderValue::from_bytes(text.as_bytes()).ok();
        let cookies: Vec<HeaderValue> = [&recipe.cookie, &recipe.second_cookie]
            .into_iter()
            .flatten()
            .filter_map(|c| header(c.render(&creds)))
            .collect();
        let authorization = recipe.authorization.as_ref().and_then(|a| header(a.render(&creds)));
        let csrf = recipe.csrf_header.as_ref().and_then(|v| header(v.render(&creds)));
        let (method, path) = recipe.target.method_and_path();
        let mut request = client.request(method, path);
        for cookie in &cookies {
            request = request.header(COOKIE, cookie.clone());
        }
        if let Some(value) = &authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        if let Some(value) = &csrf {
            request = request.header("x-csrf-token", value.clone());
        }
        match recipe.target {
            Target::PatchMe => request = request.body_json(&json!({"name": "Fuzzed"})),
            Target::Refresh | Target::Logout => {
                if let Some(v) = &recipe.body_refresh {
                    request = request.body_json(&json!({"refresh_token": v.render(&creds)}));
                }
            }
            _ => {}
        }
        let resp = request.send().await;
        let status = resp.0.status().as_u16();
        let content_type = resp
            .0
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let www_authenticate = resp.0.headers().contains_key(WWW_AUTHENTICATE);
        let bytes = resp.0.into_body().into_bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        let sent = Sent {
            cookies: cookies
                .iter()
                .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
                .collect(),
            authorization,
            csrf,
        };
        (creds, sent, status, content_type, www_authenticate, body)
    })
}

/// `%XX` sequences decoded (as the cookie parser does), anything else kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

proptest! {
    #![proptest_config(cases(256))]

    /// Any mix of Cookie, Authorization, X-CSRF-Token and refresh-token bodies gets a documented
    /// answer, and only genuine credentials succeed.
    #[test]
    fn fuzzed_credentials_get_documented_answers(recipe in fuzzed()) {
        let (creds, sent, status, content_type, www_authenticate, body) = send(&recipe);

        // Never a server error; errors are problem documents that agree with the status line.
        prop_assert!(status < 500, "{} {:?}", status, body);
        if status >= 400 {
            prop_assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{:?}", body);
            prop_assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{:?}", body);
            prop_assert!(body["code"].is_string(), "{:?}", body);
            if status == 401 {
                prop_assert!(www_authenticate, "401 without WWW-Authenticate");
            }
        } else if status != 204 {
            prop_assert_eq!(content_type.as_deref(), Some("application/json; charset=utf-8"), "{:?}", body);
        }

        // An Authorization header decides alone: success only with the genuine bearer token in it.
        let uses_access = matches!(
            recipe.target,
            Target::GetMe | Target::PatchMe | Target::GetSessions | Target::GetEvents | Target::LogoutAll | Target::DeleteSession
        );
        if let Some(auth) = &sent.authorization {
            let auth = String::from_utf8_lossy(auth.as_bytes());
            // Both access tokens of the case are genuine (one was delivered as a cookie).
            if uses_access && !auth.contains(&creds.bearer) && !auth.contains(&creds.access) {
                prop_assert_eq!(status, 401, "Authorization {:?} was not refused: {:?}", auth, body);
            }
        } else if uses_access && (200..300).contains(&status) {
            // Authenticated by cookie: the genuine access token must be there, and unsafe
            // methods need the genuine CSRF token in the header.
            // (Either genuine access token: the body session's is just as valid in a cookie. Cookie
            // values are percent-decoded, so an encoded genuine token is the genuine token.)
            prop_assert!(
                sent.cookies
                    .iter()
                    .map(|c| percent_decode(c))
                    .any(|c| c.contains(&creds.access) || c.contains(&creds.bearer)),
                "{:?}", sent
            );
            if recipe.target != Target::GetMe && recipe.target != Target::GetSessions && recipe.target != Target::GetEvents {
                prop_assert_eq!(
                    sent.csrf.as_ref().map(|v| v.as_bytes()),
                    Some(creds.csrf.as_bytes()),
                    "unsafe cookie request without the genuine CSRF token succeeded"
                );
            }
        }
        // A refresh succeeds only with a genuine refresh token: in the body (either session's:
        // knowing the token is the credential, so no CSRF check), or as the cookie with the
        // genuine CSRF token. Tokens come back in the body only for a body session.
        if recipe.target == Target::Refresh && status == 200 {
            let in_body = |t: Token| {
                matches!(&recipe.body_refresh, Some(Value_::Genuine(g)) if std::mem::discriminant(g) == std::mem::discriminant(&t))
            };
            let cookie_genuine = recipe.body_refresh.is_none()
                && sent.cookies.iter().any(|c| percent_decode(c).contains(&creds.refresh))
                && sent.csrf.as_ref().map(|v| v.as_bytes()) == Some(creds.csrf.as_bytes());
            prop_assert!(in_body(Token::BodyRefresh) || in_body(Token::Refresh) || cookie_genuine, "refresh accepted {:?}", recipe);
            prop_assert_eq!(
                body.get("refresh_token").is_some(),
                in_body(Token::BodyRefresh),
                "tokens in the body of a cookie session, or missing for a body session: {:?}", body
            );
        }
    }
}

/// Named regressions and classic shapes, independent of the random seed.
mod regressions {
    use super::*;

    fn get_me(headers: &[(&str, &[u8])]) -> (u16, Value) {
        let fixture = &*FIXTURE;
        fixture.runtime.block_on(async {
            let client = TestClient::new(&fixture.endpoint);
            let mut request = client.get("/api/me");
            for (name, value) in headers {
                request = request.header(*name, HeaderValue::from_bytes(value).expect("header value"));
            }
            let resp = request.send().await;
            let status = resp.0.status().as_u16();
            let bytes = resp.0.into_body().into_bytes().await.expect("body");
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
    }

    #[test]
    fn non_utf8_and_huge_cookie_headers_are_unauthenticated() {
        let huge = format!("{ACCESS}={}", "A".repeat(16 * 1024));
        for value in [
            b"\xff\xfe=\x80".as_slice(),
            b"__Host-access=\xc3\x28",
            huge.as_bytes(),
            b";;;;",
            b"=",
        ] {
            let (status, body) = get_me(&[("cookie", value)]);
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["code"], "unauthenticated");
        }
    }

    #[test]
    fn an_invalid_bearer_never_falls_back_to_a_valid_cookie() {
        let fixture = &*FIXTURE;
        let creds = fixture
            .runtime
            .block_on(async { fresh_creds(&TestClient::new(&fixture.endpoint), REGRESSION_EMAIL).await });
        let cookie = format!("{ACCESS}={}", creds.access);
        assert_eq!(get_me(&[("cookie", cookie.as_bytes())]).0, 200);
        for auth in ["Bearer x", "Basic Zm9vOmJhcg==", "Bearer", "", "bearer\t"] {
            let (status, _) = get_me(&[("cookie", cookie.as_bytes()), ("authorization", auth.as_bytes())]);
            assert_eq!(status, 401, "{auth:?}");
        }
        // The cookie's token sent as a bearer is fine (it is a valid access token).
        let bearer = format!("Bearer {}", creds.access);
        assert_eq!(get_me(&[("authorization", bearer.as_bytes())]).0, 200);
    }

    #[test]
    fn duplicate_access_cookies_use_the_first() {
        let fixture = &*FIXTURE;
        let creds = fixture
            .runtime
            .block_on(async { fresh_creds(&TestClient::new(&fixture.endpoint), REGRESSION_EMAIL).await });
        let good_first = format!("{ACCESS}={}; {ACCESS}=garbage", creds.access);
        assert_eq!(get_me(&[("cookie", good_first.as_bytes())]).0, 200);
        let bad_first = format!("{ACCESS}=garbage; {ACCESS}={}", creds.access);
        assert_eq!(get_me(&[("cookie", bad_first.as_bytes())]).0, 401);
    }

    /// The positive paths the property relies on: without these the property could pass by
    /// refusing everything.
    #[test]
    fn cookie_patch_needs_the_genuine_csrf_token() {
        let fixture = &*FIXTURE;
        let statuses = fixture.runtime.block_on(async {
            let client = TestClient::new(&fixture.endpoint);
            let creds = fresh_creds(&client, REGRESSION_EMAIL).await;
            let cookie = format!("{ACCESS}={}; {CSRF}={}", creds.access, creds.csrf);
            let mut statuses = Vec::new();
            for csrf in [
                Some(creds.csrf.clone()),
                None,
                Some(format!("{}x", creds.csrf)),
                Some(String::new()),
            ] {
                let mut request = client
                    .patch("/api/me")
                    .header(COOKIE, cookie.clone())
                    .body_json(&json!({"name": "Fuzz"}));
                if let Some(csrf) = csrf {
                    request = request.header("x-csrf-token", csrf);
                }
                statuses.push(request.send().await.0.status().as_u16());
            }
            statuses
        });
        assert_eq!(statuses, [200, 403, 403, 403]);
    }

    #[test]
    fn a_token_in_the_query_string_is_ignored() {
        let fixture = &*FIXTURE;
        let creds = fixture
            .runtime
            .block_on(async { fresh_creds(&TestClient::new(&fixture.endpoint), REGRESSION_EMAIL).await });
        let (status, body) = fixture.runtime.block_on(async {
            let client = TestClient::new(&fixture.endpoint);
            let resp = client
                .get(format!("/api/me?access_token={}", creds.bearer))
                .send()
                .await;
            let status = resp.0.status().as_u16();
            (status, resp.0.into_body().into_string().await.unwrap_or_default())
        });
        assert_eq!(status, 401, "{body}");
    }
}
