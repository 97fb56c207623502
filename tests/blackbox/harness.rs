//! The test harness: the real server in-process on a free port with a manual clock, a cookie jar
//! that plays the browser, and assertions on problem documents.
//!
//! Every response that goes through [`TestServer::send`] is checked against the invariants that
//! hold for *every* response (DESIGN.md "Headers", "HTTP API"): security headers, never a 5xx,
//! errors as `application/problem+json` with a stable `code`, 401s with `WWW-Authenticate: Bearer`,
//! `Cache-Control: no-store` on the API, no `Domain` on any cookie — and every problem's status
//! and code documented in the spec for the operation the request hit, so the whole suite checks
//! the declarations of `problem::documented` against what the server really answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tessera_api::config::Config;
use tessera_api::serve::RunningServer;
use tessera_api::state::SharedState;
use tessera_auth_core::clock::{Clock, ManualClock};
use tessera_auth_core::password::Argon2Params;
use tessera_store::testing::TestDatabase;
use time::{Duration, OffsetDateTime};

/// The public origin every test server is configured with (sent as `Origin` where a test wants a
/// same-origin request).
pub const ORIGIN: &str = "http://tessera.test";
pub const ACCESS: &str = "__Host-access";
pub const REFRESH: &str = "__Host-refresh";
pub const CSRF: &str = "__Host-csrf";
/// Strong enough for the zxcvbn policy.
pub const PASSWORD: &str = "violet-Anvil-47-quietly-Orbit";
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Cheap argon2: the tests exercise behaviour, not cost.
const FAST_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// A fresh 32-byte master key as 64 hex characters.
pub fn random_master_key() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    a.as_bytes()
        .iter()
        .chain(b.as_bytes())
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A running Tessera on `127.0.0.1:<free port>`, its clock, and the configuration it was built from
/// (kept so [`TestServer::restart`] boots an identical instance on the same database).
pub struct TestServer {
    running: Option<RunningServer>,
    pub clock: Arc<ManualClock>,
    pub base: String,
    pub client: reqwest::Client,
    env: HashMap<String, String>,
    data_dir: Arc<TempDir>,
}

impl TestServer {
    /// Starts a server on `db` with the default test configuration overridden by `extra`
    /// (`("TESSERA_JWT_ALG", "HS256")`, ...).
    pub async fn start(db: &TestDatabase, extra: &[(&str, &str)]) -> TestServer {
        let data_dir = Arc::new(
            tempfile::Builder::new()
                .prefix("tessera-data-")
                .tempdir()
                .expect("data dir"),
        );
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", db.url.as_str()),
            ("TESSERA_ADDR", "127.0.0.1:0"),
            ("TESSERA_PUBLIC_ORIGIN", ORIGIN),
            ("TESSERA_RATE_LIMIT_PER_IP", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.insert("TESSERA_DATA_DIR".into(), data_dir.path().display().to_string());
        env.insert("TESSERA_MASTER_KEY".into(), random_master_key());
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        // Whole seconds, so JWT times (whole seconds) line up exactly with clock steps.
        let start = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).expect("now");
        let clock = Arc::new(ManualClock::new(start));
        TestServer::boot(env, data_dir, clock).await
    }

    async fn boot(env: HashMap<String, String>, data_dir: Arc<TempDir>, clock: Arc<ManualClock>) -> TestServer {
        let config = Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration is valid");
        let addr = config.addr;
        let state = tessera_api::startup::build_state_with_clock(config, clock.clone(), FAST_ARGON2)
            .await
            .expect("server state builds");
        let running = tessera_api::serve::start(state, addr, std::future::pending())
            .await
            .expect("server starts");
        let addr = running.addr;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        TestServer {
            running: Some(running),
            clock,
            base: format!("http://{addr}"),
            client,
            env,
            data_dir,
        }
    }

    /// Stops this instance (draining connections) and starts a new one with the same
    /// configuration, database, master key and clock.
    pub async fn restart(mut self) -> TestServer {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("server stops cleanly");
        }
        TestServer::boot(self.env.clone(), self.data_dir.clone(), self.clock.clone()).await
    }

    /// Another instance on the same database, master key and clock (what a scaled-out
    /// deployment runs). Both keep serving.
    pub async fn peer(&self) -> TestServer {
        TestServer::boot(self.env.clone(), self.data_dir.clone(), self.clock.clone()).await
    }

    pub fn state(&self) -> &SharedState {
        &self.running.as_ref().expect("server is running").state
    }

    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A bare request: no cookies, no Origin, nothing.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends and checks the invariants every response must satisfy.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let reply = send_raw(request).await;
        reply.assert_invariants();
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// A browser with an empty cookie jar pointed at this server.
    pub fn browser(&self) -> Browser {
        Browser {
            client: self.client.clone(),
            base: self.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    /// Registers `email` (name "Test User") in a new browser: 201 and the three cookies.
    pub async fn register(&self, email: &str) -> (Browser, Value) {
        let mut browser = self.browser();
        let reply = browser
            .post_json(
                "/api/auth/register",
                &json!({"email": email, "password": PASSWORD, "name": "Test User"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "register {email}: {}", reply.text());
        for name in [ACCESS, REFRESH, CSRF] {
            assert!(browser.cookie(name).is_some(), "register set no {name} cookie");
        }
        (browser, reply.json())
    }

    /// Logs `email` in (with [`PASSWORD`]) in a new browser.
    pub async fn login(&self, email: &str) -> (Browser, Value) {
        let mut browser = self.browser();
        let reply = browser
            .post_json("/api/auth/login", &json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "login {email}: {}", reply.text());
        (browser, reply.json())
    }

    /// Logs `email` in as a native client (`token_delivery: body`).
    pub async fn login_native(&self, email: &str) -> Native {
        let reply = self
            .post_json(
                "/api/auth/login",
                &json!({"email": email, "password": PASSWORD, "token_delivery": "body"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "native login {email}: {}", reply.text());
        assert!(
            reply.set_cookies().is_empty(),
            "a body-delivery login must set no cookie"
        );
        let body = reply.json();
        Native {
            access: body["access_token"].as_str().expect("access_token in body").to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token in body")
                .to_owned(),
            body,
        }
    }

    /// GET /api/me with `Authorization: Bearer <token>`.
    pub async fn me_bearer(&self, token: &str) -> Reply {
        self.send(self.request(Method::GET, "/api/me").bearer_auth(token)).await
    }

    /// POST /api/auth/refresh with `{"refresh_token": token}`.
    pub async fn refresh_body(&self, token: &str) -> Reply {
        self.post_json("/api/auth/refresh", &json!({ "refresh_token": token }))
            .await
    }
}

/// A native (non-browser) client's tokens.
#[derive(Debug, Clone)]
pub struct Native {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

/// Sends without checking invariants (for requests whose answer may legitimately come from the
/// HTTP layer below the application).
pub async fn send_raw(request: RequestBuilder) -> Reply {
    let (client, request) = request.build_split();
    let request = request.expect("the request builds");
    let sent = (request.method().clone(), request.url().path().to_owned());
    let response = client.execute(request).await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("response body").to_vec();
    Reply {
        status,
        headers,
        body,
        sent,
    }
}

/// The spec the server serves, for [`Reply::assert_documented`].
static SPEC: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(&tessera_api::app::spec_json()).expect("the spec is JSON"));

/// The operation of the spec that `method path` is a request to: the path matched against the
/// path templates segment by segment (`{id}` matches any one), HEAD as GET.
fn operation(method: &Method, path: &str) -> Option<&'static Value> {
    let method = if *method == Method::HEAD {
        "get".to_owned()
    } else {
        method.as_str().to_ascii_lowercase()
    };
    let segments: Vec<&str> = path.split('/').collect();
    SPEC["paths"].as_object()?.iter().find_map(|(template, item)| {
        let template: Vec<&str> = template.split('/').collect();
        let matches = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
        matches.then(|| item.get(&method)).flatten()
    })
}

/// A whole response, read eagerly, with the method and path of the request that got it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub sent: (Method, String),
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header value is ASCII"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(v.to_str().expect("Set-Cookie is ASCII")))
            .collect()
    }

    pub fn set_cookie(&self, name: &str) -> Option<SetCookie> {
        let mut found: Vec<SetCookie> = self.set_cookies().into_iter().filter(|c| c.name == name).collect();
        assert!(found.len() <= 1, "{name} is set twice in one response: {found:?}");
        found.pop()
    }

    /// Asserts that the three auth cookies are cleared, each with the attributes a browser needs to
    /// match (and, for `__Host-` names, accept) the removal.
    pub fn assert_cookies_cleared(&self) {
        for name in [ACCESS, REFRESH, CSRF] {
            let cookie = self
                .set_cookie(name)
                .unwrap_or_else(|| panic!("{name} is not cleared: {:?}", self.set_cookies()));
            assert_eq!(
                cookie.attr("max-age"),
                Some("0"),
                "{name} cleared without Max-Age=0: {}",
                cookie.raw
            );
            assert!(cookie.value.is_empty(), "{name} cleared with a value: {}", cookie.raw);
            assert!(
                cookie.has("secure"),
                "{name} removal lacks Secure (a browser ignores it): {}",
                cookie.raw
            );
            assert_eq!(
                cookie.attr("path"),
                Some("/"),
                "{name} removal lacks Path=/: {}",
                cookie.raw
            );
        }
    }

    pub fn assert_no_cookies(&self) {
        assert!(
            self.set_cookies().is_empty(),
            "unexpected Set-Cookie: {:?}",
            self.set_cookies()
        );
    }

    /// The invariants of every response.
    pub fn assert_invariants(&self) {
        let context = || format!("{} {}", self.status, self.text().chars().take(400).collect::<String>());
        assert!(!self.status.is_server_error(), "server error: {}", context());
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"), "{}", context());
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"), "{}", context());
        let frame_denied = self
            .header("x-frame-options")
            .is_some_and(|v| v.eq_ignore_ascii_case("deny"))
            || self
                .header("content-security-policy")
                .is_some_and(|v| v.contains("frame-ancestors 'none'"));
        assert!(frame_denied, "framing is not denied: {}", context());
        if self.status.is_client_error() {
            assert!(
                self.content_type().starts_with(PROBLEM_JSON),
                "error without a problem document (content-type {:?}): {}",
                self.content_type(),
                context()
            );
            let body = self.json();
            assert_eq!(
                body["status"].as_u64(),
                Some(u64::from(self.status.as_u16())),
                "{}",
                context()
            );
            let code = body["code"].as_str().unwrap_or("");
            assert!(
                !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                context()
            );
        }
        if self.status.is_client_error() || self.status.is_server_error() {
            self.assert_documented();
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = self.header("www-authenticate").unwrap_or("");
            assert!(
                challenge.starts_with("Bearer"),
                "401 without WWW-Authenticate: Bearer: {}",
                context()
            );
        }
        for cookie in self.set_cookies() {
            assert!(cookie.attr("domain").is_none(), "cookie with a Domain: {}", cookie.raw);
            assert!(
                self.header("cache-control").is_some_and(|v| v.contains("no-store")),
                "cookies set without Cache-Control: no-store"
            );
        }
    }

    /// A problem's status and code are documented for the operation the request hit (a request
    /// to no operation, like an unknown route's 404 or a wrong method's 405, has no spec to check).
    fn assert_documented(&self) {
        let (method, path) = &self.sent;
        let Some(operation) = operation(method, path) else {
            return;
        };
        let status = self.status.as_str();
        let body = self.json();
        let code = body["code"].as_str().unwrap_or("");
        let examples = &operation["responses"][status]["content"][PROBLEM_JSON]["examples"];
        assert!(
            examples[code].is_object(),
            "{method} {path} answered {status} `{code}`, which the spec does not document for `{}`: declare \
             the code in its endpoint module's PROBLEMS, or fix the rule in crates/api/src/problem/documented.rs \
             (documented at {status}: {:?})",
            operation["operationId"].as_str().unwrap_or("?"),
            examples.as_object().map(|e| e.keys().collect::<Vec<_>>()),
        );
    }
}

/// A parsed `Set-Cookie` header.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub raw: String,
    pub name: String,
    pub value: String,
    /// Lower-cased attribute names with their values.
    pub attrs: Vec<(String, Option<String>)>,
}

impl SetCookie {
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let pair = parts.next().unwrap_or("");
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let attrs = parts
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_owned())),
                None => (p.to_ascii_lowercase(), None),
            })
            .collect();
        SetCookie {
            raw: raw.to_owned(),
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attrs,
        }
    }

    pub fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|(k, _)| k == attr)
    }

    pub fn attr(&self, attr: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == attr)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn max_age(&self) -> i64 {
        self.attr("max-age")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Max-Age: {}", self.raw))
    }

    /// Asserts the attributes DESIGN.md gives the secure-mode auth cookies.
    pub fn assert_host_cookie(&self, http_only: bool) {
        assert!(self.name.starts_with("__Host-"), "{}", self.raw);
        assert!(self.has("secure"), "no Secure: {}", self.raw);
        assert_eq!(self.attr("path"), Some("/"), "no Path=/: {}", self.raw);
        assert!(
            self.attr("domain").is_none(),
            "Domain on a __Host- cookie: {}",
            self.raw
        );
        assert!(
            self.attr("samesite").is_some_and(|v| v.eq_ignore_ascii_case("strict")),
            "not SameSite=Strict: {}",
            self.raw
        );
        assert_eq!(
            self.has("httponly"),
            http_only,
            "HttpOnly should be {http_only}: {}",
            self.raw
        );
        assert!(!self.value.starts_with('"'), "quoted cookie value: {}", self.raw);
    }
}

/// A cookie jar plus the habits of the SPA: it sends its cookies on every request and echoes the
/// CSRF cookie in `X-CSRF-Token` on unsafe ones (when asked to).
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    /// Points this jar at another (restarted) server.
    pub fn attach(&mut self, server: &TestServer) {
        self.client = server.client.clone();
        self.base = server.base.clone();
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub fn access(&self) -> String {
        self.cookie(ACCESS).expect("access cookie").to_owned()
    }

    pub fn refresh_token(&self) -> String {
        self.cookie(REFRESH).expect("refresh cookie").to_owned()
    }

    pub fn csrf(&self) -> String {
        self.cookie(CSRF).expect("csrf cookie").to_owned()
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    pub fn remove_cookie(&mut self, name: &str) {
        self.cookies.remove(name);
    }

    /// Applies a response's `Set-Cookie` headers (Max-Age=0 removes).
    pub fn absorb(&mut self, reply: &Reply) {
        for cookie in reply.set_cookies() {
            if cookie.attr("max-age") == Some("0") {
                self.cookies.remove(&cookie.name);
            } else {
                self.cookies.insert(cookie.name, cookie.value);
            }
        }
    }

    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// A request carrying this jar's cookies (no CSRF header).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match self.cookie_header() {
            Some(cookies) => request.header("cookie", cookies),
            None => request,
        }
    }

    /// A request carrying the cookies and `X-CSRF-Token` = the CSRF cookie.
    pub fn request_csrf(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.request(method, path);
        match self.cookie(CSRF) {
            Some(token) => request.header("x-csrf-token", token),
            None => request,
        }
    }

    /// Sends (checking the invariants) and absorbs the cookies.
    pub async fn send(&mut self, request: RequestBuilder) -> Reply {
        let reply = send_raw(request).await;
        reply.assert_invariants();
        self.absorb(&reply);
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.request(Method::GET, path);
        self.send(request).await
    }

    /// POST with a JSON body, cookies and the CSRF header.
    pub async fn post_json(&mut self, path: &str, body: &Value) -> Reply {
        let request = self.request_csrf(Method::POST, path).json(body);
        self.send(request).await
    }

    /// POST with no body, cookies and the CSRF header (how the SPA refreshes and logs out).
    pub async fn post_empty(&mut self, path: &str) -> Reply {
        let request = self.request_csrf(Method::POST, path);
        self.send(request).await
    }

    pub async fn refresh(&mut self) -> Reply {
        self.post_empty("/api/auth/refresh").await
    }

    pub async fn logout(&mut self) -> Reply {
        self.post_empty("/api/auth/logout").await
    }

    pub async fn me(&mut self) -> Reply {
        self.get("/api/me").await
    }

    pub async fn patch_me(&mut self, name: &str) -> Reply {
        let request = self
            .request_csrf(Method::PATCH, "/api/me")
            .json(&json!({ "name": name }));
        self.send(request).await
    }
}

/// Asserts a problem document with this status and code.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "expected {status} {code}, got: {} {}",
        reply.status,
        reply.text()
    );
    assert!(
        reply.content_type().starts_with(PROBLEM_JSON),
        "expected {PROBLEM_JSON}, got {:?}: {}",
        reply.content_type(),
        reply.text()
    );
    let body = reply.json();
    assert_eq!(body["code"].as_str(), Some(code), "problem code: {}", reply.text());
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status)),
        "problem status: {}",
        reply.text()
    );
    assert!(body["title"].is_string(), "problem without title: {}", reply.text());
}

/// A 401 for a presented-but-unacceptable token: the code and `error="invalid_token"`.
#[track_caller]
pub fn assert_invalid_token(reply: &Reply, code: &str) {
    assert_problem(reply, 401, code);
    let challenge = reply.header("www-authenticate").unwrap_or("");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "WWW-Authenticate: {challenge:?}"
    );
}
